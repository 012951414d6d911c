// TCP echo server for bench/echo.sh: gev::net::StreamServer on 127.0.0.1:PORT, one greenlet per
// connection, echoing whatever it reads (recv up to 64 KiB, sendall).
//
//   gev_echo_server PORT
//
// Runs until killed (SIGTERM/SIGINT keep their default disposition).
#include <cstdio>
#include <cstdlib>
#include <gev/gev.hpp>
#include <memory>
#include <system_error>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  gev::net::StreamServerOptions options;
  options.max_connections = 100'000;
  gev::net::StreamServer server{{"127.0.0.1", port},
                                [](gev::net::Socket& client, const gev::net::Address&) {
                                  // One heap buffer per connection (64 KiB would be a lot on a
                                  // greenlet's stack).
                                  auto buf = std::make_unique<char[]>(64 * 1024);
                                  try {
                                    while (std::size_t n = client.recv(buf.get(), 64 * 1024))
                                      client.sendall(buf.get(), n);
                                  } catch (const std::system_error&) {
                                    // The load generator closing mid-stream (ECONNRESET/EPIPE) is
                                    // normal at the end.
                                  }
                                },
                                options};
  server.start();
  std::printf("listening %s\n", server.address().to_string().c_str());
  std::fflush(stdout);
  server.serve_forever();
}
