// Socket timeouts: settimeout() bounds each operation (net::timeout), zero means non-blocking,
// gev::Timeout bounds a whole block, and connection errors name the peer.
#include <gev/gev.hpp>

#include <cerrno>
#include <cstdio>

using namespace std::chrono_literals;

int main() {
  gev::net::Socket listener(AF_INET, SOCK_STREAM);
  listener.bind({"127.0.0.1", 0});
  listener.listen();
  const std::uint16_t port = listener.local_address().port();
  // A server that accepts, stays silent for 300 ms, then answers.
  auto server = gev::spawn([&] {
    gev::net::Socket conn = listener.accept();
    gev::sleep(300ms);
    conn.sendall("late\n");
    gev::sleep(1s);  // killed before then
  });

  // [timeouts]
  auto s = gev::net::create_connection("127.0.0.1", port, 50ms);  // also each op's timeout
  try {
    s.recv(64);
  } catch (const gev::net::timeout& e) {  // a std::system_error with ETIMEDOUT
    std::printf("1. %s (errno %s)\n", e.what(),
                e.code() == std::errc::timed_out ? "ETIMEDOUT" : "?");
  }
  s.settimeout(0s);  // non-blocking: never parks
  try {
    s.recv(64);
  } catch (const std::system_error& e) {
    std::printf("2. non-blocking: %s\n", e.code().value() == EAGAIN ? "EAGAIN" : e.what());
  }
  s.settimeout(std::nullopt);  // blocking (the default for new sockets)
  try {
    gev::Timeout deadline{50ms};  // bounds everything this greenlet does inside the block
    s.recv(64);
  } catch (const gev::Timeout&) {
    std::printf("3. gev::Timeout: the socket is still usable\n");
  }
  std::printf("4. then: %s", s.recv(64).c_str());  // the server's answer, after 300 ms
  // [timeouts]

  // [refused]
  listener.close();  // nobody listens on the port any more
  try {
    gev::net::create_connection("127.0.0.1", port, 1s);
  } catch (const std::system_error& e) {
    std::printf("5. %s\n", e.what());
  }
  // [refused]
  server->kill();
}
