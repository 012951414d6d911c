// HTTP plaintext server for bench/http.sh: a gev::http::Server on 127.0.0.1:PORT answering every
// request (any method, any path) with 200, Content-Type text/plain and the 13-byte body
// "Hello, World!" (the TechEmpower plaintext test).
//
//   gev_http_server PORT [--workers N] [--reuse-port]
//
// No access log, Server: gev, and keep-alive that wrk does not run into (1,000,000 requests per
// connection, 100,000 connections). --workers N: ServerOptions::workers (N hubs on N threads, one
// SO_REUSEPORT port). --reuse-port: bind with SO_REUSEPORT so that several processes can share
// the port. Stops on SIGTERM/SIGQUIT (graceful, 1 s) or SIGINT.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <gev/gev.hpp>
#include <gev/http/server.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PORT [--workers N] [--reuse-port]\n", argv[0]);
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  gev::http::ServerOptions options;
  options.access_log = nullptr;
  options.server_header = "gev";
  options.max_requests_per_connection = 1'000'000;
  options.max_connections = 100'000;
  options.graceful_timeout = std::chrono::seconds(1);
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      options.workers = static_cast<unsigned>(std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--reuse-port") == 0) {
      options.reuse_port = true;
    } else {
      std::fprintf(stderr, "%s: unknown argument %s\n", argv[0], argv[i]);
      return 2;
    }
  }
  gev::http::Server server{{"127.0.0.1", port},
                           [](gev::http::Request&) {
                             return gev::http::Response{200, "Hello, World!", "text/plain"};
                           },
                           options};
  server.start();
  std::printf("listening %s (workers %u)\n", server.address().to_string().c_str(),
              options.workers);
  std::fflush(stdout);
  server.serve_forever();
}
