// Monkey patching: plain blocking POSIX code (getaddrinfo, connect, recv, usleep) runs
// concurrently in greenlets after gev::monkey::patch_all().
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gev/gev.hpp>
#include <gev/monkey/monkey.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

// Unmodified blocking code, as a C library would have it: no gev in here.
static void serve_one(int listener) {
  int conn = accept(listener, nullptr, nullptr);  // parks this greenlet, not the thread
  char buf[256];
  ssize_t n = recv(conn, buf, sizeof buf, 0);
  usleep(100'000);  // 100 ms of "work"
  send(conn, buf, n > 0 ? n : 0, 0);
  close(conn);
}

static std::string ask(std::string port, std::string text) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo("localhost", port.c_str(), &hints, &res) != 0) return "lookup failed";
  int fd = socket(res->ai_family, res->ai_socktype, 0);  // a blocking socket
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  char buf[256];
  ssize_t n = rc == 0 ? send(fd, text.data(), text.size(), 0) : -1;
  if (n > 0) n = recv(fd, buf, sizeof buf, 0);
  close(fd);
  return n > 0 ? std::string(buf, n) : "failed: " + std::string(std::strerror(errno));
}

int main() {
  gev::monkey::patch_all();  // throws if gev::monkey is not linked in front of libc

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // port 0: the kernel picks one
  socklen_t len = sizeof addr;
  bind(listener, reinterpret_cast<sockaddr*>(&addr), len);
  listen(listener, 16);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<gev::Greenlet<void>>> servers;
  std::vector<std::shared_ptr<gev::Greenlet<std::string>>> clients;
  for (int i = 1; i <= 3; ++i) {
    servers.push_back(gev::spawn(serve_one, listener));
    clients.push_back(gev::spawn(ask, port, "request " + std::to_string(i)));
  }
  for (auto& c : clients) std::printf("%s\n", c->get().c_str());
  gev::joinall(servers);
  const auto took = std::chrono::steady_clock::now() - start;
  std::printf("3 requests of 100 ms each took %s 300 ms\n",
              took < std::chrono::milliseconds(300) ? "less than" : "MORE than");
  close(listener);
}
