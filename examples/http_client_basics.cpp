// gev's HTTP client (urllib / requests): one-shot get, a Client's keep-alive pool, post, and
// redirects, against a server started in the same program.
#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/client.hpp>
#include <gev/http/server.hpp>

#include <cstdio>
#include <string>

namespace http = gev::http;

http::Response redirect(int status, const std::string& to) {
  http::Response r{status, ""};
  r.set_header("Location", to);
  return r;
}

int main() {
  http::App app;
  app.route("/hello", [](http::Request& req) {
    return http::Response::text(200,
                                req.method() + " hello, " + std::string(req.header("User-Agent")));
  });
  app.route("/echo", [](http::Request& req) { return http::Response::text(200, req.body()); },
            {"POST"});
  app.route("/old", [](http::Request&) { return redirect(301, "/hello"); });
  app.route("/form", [](http::Request&) { return redirect(303, "/hello"); }, {"POST"});
  http::ServerOptions options;
  options.access_log = nullptr;
  http::Server server{{"127.0.0.1", 0}, app, options};
  server.start();
  const std::string base = "http://" + server.address().to_string();

  // [oneshot]
  auto r = http::get(base + "/hello");  // on this thread's default Client
  std::printf("%d %s | %s\n", r.status, r.reason.c_str(), r.body.c_str());
  // [oneshot]

  // [client]
  http::Client client;  // a keep-alive pool per (scheme, host, port)
  for (int i = 0; i < 2; ++i) {
    auto page = client.get(base + "/hello", {.user_agent = "guide/1"});
    std::printf("%s | reused connection: %d\n", page.body.c_str(), page.reused_connection);
  }
  auto echoed = client.post(base + "/echo", "a=1&b=2",
                            {.headers = {{"Content-Type", "application/x-www-form-urlencoded"}}});
  std::printf("POST /echo -> %s\n", echoed.body.c_str());
  std::printf("idle connections in the pool: %zu\n", client.idle_connections());
  // [client]

  // [redirects]
  auto moved = client.get(base + "/old");  // 301 -> /hello, followed
  std::printf("GET /old -> %d %s (url %s, %d redirect)\n", moved.status, moved.body.c_str(),
              moved.url.substr(base.size()).c_str(), moved.redirects);
  auto seen = client.post(base + "/form", "x=1");  // 303: the next request is a GET, no body
  std::printf("POST /form -> %d %s\n", seen.status, seen.body.c_str());
  auto raw = client.get(base + "/old", {.follow_redirects = false});
  std::printf("GET /old, not followed -> %d, Location: %s\n", raw.status,
              std::string(raw.header("Location")).c_str());
  // [redirects]
  server.stop();
}
