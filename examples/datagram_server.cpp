// DatagramServer (gevent.server.DatagramServer): a UDP server that answers each datagram.
#include <gev/gev.hpp>

#include <cctype>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main() {
  gev::net::DatagramServer server{
      {"127.0.0.1", 0},
      [](std::string_view data, const gev::net::Address& from, gev::net::DatagramServer& srv) {
        std::string reply(data);  // `data` lives only during this call: copy what you keep
        for (char& c : reply) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        srv.sendto(reply, from);  // from the server's address
      }};
  server.start();  // binds (port 0: the kernel picks one) and receives in a greenlet

  gev::net::Socket client(AF_INET, SOCK_DGRAM);
  client.settimeout(1s);  // UDP may lose datagrams: never wait forever for an answer
  for (const char* word : {"hello", "udp", "world"}) {
    client.sendto(word, std::char_traits<char>::length(word), server.address());
    char buf[512];
    gev::net::Address from;
    std::size_t n = client.recvfrom(buf, sizeof buf, from);
    std::printf("%s -> %.*s (from the server: %s)\n", word, static_cast<int>(n), buf,
                from == server.address() ? "yes" : "no");
  }
  std::printf("received %llu datagrams\n", static_cast<unsigned long long>(server.received()));
  server.stop(1s);  // the port is free when stop() returns
}
