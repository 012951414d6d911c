// Keep-alive, a limit (max_body_bytes -> 413) and graceful shutdown: stop() lets the request in
// flight finish, then the server refuses new connections.
#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/client.hpp>
#include <gev/http/server.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;
namespace http = gev::http;

int main() {
  http::App app;
  app.route("/", [](http::Request&) { return http::Response::text(200, "hi"); });
  app.route("/upload",
            [](http::Request& req) {
              return http::Response::text(200, std::to_string(req.body().size()) + " bytes");
            },
            {"POST"});
  app.route("/slow", [](http::Request&) {
    gev::sleep(200ms);  // parks this connection's greenlet only
    return http::Response::text(200, "slow done");
  });

  // [options]
  http::ServerOptions options;
  options.max_body_bytes = 1024;  // nginx's client_max_body_size (default 1 MiB)
  options.access_log = nullptr;
  http::Server server{{"127.0.0.1", 0}, app, options};
  // [options]
  server.start();
  const std::string base = "http://" + server.address().to_string();

  http::Client client;
  // [keepalive]
  for (int i = 0; i < 3; ++i) {
    auto r = client.get(base + "/");
    std::printf("GET / -> %d, reused connection: %s\n", r.status,
                r.reused_connection ? "yes" : "no");
  }
  std::printf("server connections: %zu\n", server.connections());
  // [keepalive]
  std::printf("POST 1000 bytes -> %s\n",
              client.post(base + "/upload", std::string(1000, 'x')).body.c_str());
  std::printf("POST 2000 bytes -> %d\n",
              client.post(base + "/upload", std::string(2000, 'x')).status);

  // [stop]
  auto slow = gev::spawn([&] { return client.get(base + "/slow"); });
  gev::sleep(50ms);                    // the request is in flight now
  const bool clean = server.stop(5s);  // stop accepting, wait for /slow, close idle connections
  const http::ClientResponse& r = slow->get();
  std::printf("stop() -> %s; /slow -> %d %s, Connection: %s\n", clean ? "clean" : "killed some",
              r.status, r.body.c_str(), std::string(r.header("Connection")).c_str());
  try {
    client.get(base + "/");
  } catch (const http::ClientError& e) {
    std::printf("after stop: ClientError, kind connect: %s\n",
                e.kind() == http::ClientError::Kind::connect ? "yes" : "no");
  }
  // [stop]
}
