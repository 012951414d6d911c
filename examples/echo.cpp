// An echo server and its clients in one program: the server accepts in one greenlet and serves
// each connection in its own; ten clients connect, send a line and read it back, all at once.
//
//   echo                 run server and clients on an ephemeral loopback port
//   echo serve PORT      only the server, on 127.0.0.1:PORT (try: nc 127.0.0.1 PORT)
#include <gev/gev.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

static void serve(gev::net::Socket& listener) {
  for (;;) {
    auto conn = std::make_shared<gev::net::Socket>(listener.accept());
    gev::spawn([conn] {
      char buf[4096];
      while (std::size_t n = conn->recv(buf, sizeof buf)) conn->sendall(buf, n);
    });
  }
}

static std::string echo_once(std::uint16_t port, const std::string& line) {
  auto s = gev::net::create_connection("127.0.0.1", port, 5s);
  s.sendall(line);
  s.shutdown(SHUT_WR);  // half-close: the server sees EOF after our line
  std::string reply;
  char buf[256];
  while (std::size_t n = s.recv(buf, sizeof buf)) reply.append(buf, n);
  return reply;
}

int main(int argc, char** argv) {
  gev::net::Socket listener(AF_INET, SOCK_STREAM);
  listener.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  const bool server_only = argc == 3 && std::string_view(argv[1]) == "serve";
  listener.bind({"127.0.0.1", static_cast<std::uint16_t>(server_only ? std::atoi(argv[2]) : 0)});
  listener.listen();
  if (server_only) {
    std::printf("echo server on %s\n", listener.local_address().to_string().c_str());
    serve(listener);
  }
  auto server = gev::spawn([&] { serve(listener); });
  const std::uint16_t port = listener.local_address().port();

  std::vector<std::shared_ptr<gev::Greenlet<std::string>>> clients;
  for (int i = 1; i <= 10; ++i) {
    clients.push_back(gev::spawn(echo_once, port, "hello from client " + std::to_string(i) + "\n"));
  }
  for (auto& c : clients) std::fputs(c->get().c_str(), stdout);
  server->kill();
  std::puts("echo done");
}
