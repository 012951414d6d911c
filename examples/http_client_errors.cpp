// What can go wrong with an HTTP request and how gev reports it: an HTTP error status is a
// response; a failure is a ClientError whose kind() says what happened.
#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/client.hpp>
#include <gev/http/server.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
namespace http = gev::http;

const char* kind_name(http::ClientError::Kind kind) {
  using K = http::ClientError::Kind;
  switch (kind) {
    case K::invalid_url:
      return "invalid_url";
    case K::connect:
      return "connect";
    case K::timeout:
      return "timeout";
    case K::truncated:
      return "truncated";
    case K::too_many_redirects:
      return "too_many_redirects";
    default:
      return "other";
  }
}

int main() {
  http::App app;
  app.route("/slow", [](http::Request&) {
    gev::sleep(300ms);  // longer than the client waits
    return http::Response::text(200, "too late");
  });
  app.route("/loop", [](http::Request&) {
    http::Response r{302, ""};
    r.set_header("Location", "/loop");
    return r;
  });
  app.route("/broken", [](http::Request&) {
    return http::Response::stream(200, [](http::BodyWriter& out) {
      out.write("the first half...");
      throw std::runtime_error("the data source failed");  // no final chunk is sent
    });
  });
  http::ServerOptions options;
  options.access_log = nullptr;
  http::Server server{{"127.0.0.1", 0}, app, options};
  server.start();
  const std::string base = "http://" + server.address().to_string();

  // [errors]
  http::Client client;
  auto r = client.get(base + "/missing");  // any status is a response: check r.status
  std::printf("%-30s %d %s\n", "GET /missing", r.status, r.reason.c_str());
  auto attempt = [&](const char* what, const std::string& url, http::RequestOptions opts = {}) {
    try {
      client.get(url, opts);
      std::printf("%-30s ok\n", what);
    } catch (const http::ClientError& e) {
      std::printf("%-30s ClientError %s\n", what, kind_name(e.kind()));
    }
  };
  attempt("GET /slow, read_timeout 100ms", base + "/slow", {.read_timeout = 100ms});
  attempt("GET /slow, timeout 100ms", base + "/slow", {.timeout = 100ms});  // the whole request
  attempt("GET /loop", base + "/loop", {.max_redirects = 3});
  attempt("GET /broken", base + "/broken");  // never a short success
  attempt("ftp://example.org/", "ftp://example.org/");
  server.stop();
  attempt("GET / after stop()", base + "/");
  // [errors]
}
