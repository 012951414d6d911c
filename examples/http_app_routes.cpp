// A Flask-like App served by http::Server: routes with parameters, query strings, a form body,
// and the 404 and 405 the App answers itself -- fetched by gev's client in the same program.
#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/client.hpp>
#include <gev/http/server.hpp>

#include <cstdio>
#include <string>

namespace http = gev::http;

int main() {
  // [app]
  http::App app;  // app = Flask(__name__)
  app.route("/", [](http::Request&) { return http::Response{200, "<h1>Hello Flask</h1>"}; });
  app.route("/user/<id>", [](http::Request& req) {  // <id>: one segment
    return http::Response::text(200, "user " + req.param("id"));
  });
  app.route("/search", [](http::Request& req) {  // request.args.get("q")
    return http::Response::text(200, "q=" + req.query("q").value_or("(none)"));
  });
  app.route("/login",
            [](http::Request& req) {  // request.form
              std::string user;
              for (const auto& [name, value] : req.form())
                if (name == "user") user = value;
              http::Response r = http::Response::text(201, "welcome " + user);
              r.set_header("Location", "/user/" + user);
              return r;
            },
            {"POST"});
  // [app]

  // [serve]
  http::ServerOptions options;
  options.access_log = nullptr;                         // default: a combined-format line on stderr
  http::Server server{{"127.0.0.1", 0}, app, options};  // port 0: the kernel picks one
  server.start();  // binds and accepts in a background greenlet, returns at once
  const std::string base = "http://" + server.address().to_string();
  // [serve]

  // [fetch]
  http::Client client;  // the main greenlet parks in each call; the server's greenlets run
  auto show = [](const char* what, const http::ClientResponse& r) {
    std::string body = r.body;
    if (body.ends_with('\n')) body.pop_back();  // the error pages end with a newline
    std::printf("%-22s %d %s", what, r.status, body.c_str());
    if (r.status == 405) std::printf("  Allow: %s", std::string(r.header("Allow")).c_str());
    std::printf("\n");
  };
  show("GET /", client.get(base + "/"));
  show("GET /user/42", client.get(base + "/user/42"));
  show("GET /user/a%20b", client.get(base + "/user/a%20b"));  // parameters are decoded
  show("GET /search?q=gev+cpp", client.get(base + "/search?q=gev+cpp"));
  show("POST /login",
       client.post(base + "/login", "user=ada&lang=c%2B%2B",
                   {.headers = {{"Content-Type", "application/x-www-form-urlencoded"}}}));
  show("GET /login", client.get(base + "/login"));  // the path exists, not for GET
  show("GET /nowhere", client.get(base + "/nowhere"));
  std::printf("served %llu requests\n", static_cast<unsigned long long>(server.requests_served()));
  server.stop();  // graceful; the client's idle keep-alive connection is closed at once
  // [fetch]
}
