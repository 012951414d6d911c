// StreamServer (gevent.server.StreamServer): one greenlet per connection, and a clean stop.
#include <gev/gev.hpp>

#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

static std::string echo_once(std::uint16_t port, const std::string& line) {
  auto s = gev::net::create_connection("127.0.0.1", port, 2s);  // 2 s bounds each operation
  s.sendall(line);
  s.shutdown(SHUT_WR);  // the server's recv() sees the end of our data
  std::string reply;
  for (std::string chunk; !(chunk = s.recv(4096)).empty();) reply += chunk;
  return reply;
}

int main() {
  gev::net::StreamServer server{{"127.0.0.1", 0},  // port 0: the kernel picks one
                                [](gev::net::Socket& client, const gev::net::Address&) {
                                  char buf[4096];
                                  while (std::size_t n = client.recv(buf, sizeof buf))
                                    client.sendall(buf, n);
                                }};  // the client socket is closed when the handler returns
  server.start();                    // binds, listens, accepts in a greenlet; returns at once
  const std::uint16_t port = server.address().port();

  std::vector<std::shared_ptr<gev::Greenlet<std::string>>> clients;
  for (int i = 1; i <= 3; ++i)
    clients.push_back(gev::spawn(echo_once, port, "line " + std::to_string(i)));
  for (auto& c : clients) std::printf("%s\n", c->get().c_str());

  auto idle = gev::net::create_connection("127.0.0.1", port);  // connected, says nothing
  while (server.accepted() < 4) gev::sleep(1ms);               // until the server has taken it
  std::printf("accepted %llu, running %zu\n", static_cast<unsigned long long>(server.accepted()),
              server.connections());
  const bool finished = server.stop(50ms);  // waits 50 ms, then kills the idle handler
  std::printf("stop: handlers finished on their own: %s\n", finished ? "yes" : "no");
  std::printf("idle client reads %zu bytes: the server closed it\n", idle.recv(4096).size());
}
