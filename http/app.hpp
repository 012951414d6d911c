// gev::http::App: routes to handlers, the Flask analog.
//
//   gev::http::App app;
//   app.route("/", [](gev::http::Request&) { return gev::http::Response{200, "Hello World!"}; });
//   app.route("/user/<id>", [](gev::http::Request& req) {
//     return gev::http::Response::text(200, "user " + req.param("id"));
//   });
//   app.route("/upload", upload_handler, {"POST"});
//   gev::http::Server server{{"127.0.0.1", 5000}, app};   // an App is a Handler
//
// A pattern is a path whose segments may be "<name>" (one segment, percent-decoded into
// req.param("name")) or, last, "<path:name>" (the rest of the path). Routes are tried in the
// order they were added. No route matches: 404. A route matches but not for this method: 405
// with an Allow header. A GET route also answers HEAD.
#pragma once

#include <string>
#include <vector>

#include "gev/http/request.hpp"
#include "gev/http/response.hpp"
#include "gev/http/server.hpp"

namespace gev::http {

class App {
 public:
  // Throws std::invalid_argument for a malformed pattern (not starting with '/', an unclosed
  // '<', an empty name, <path:...> not last).
  App& route(std::string pattern, Handler handler, std::vector<std::string> methods = {"GET"});

  Response operator()(Request& req) const;

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter's name
    enum Kind { literal, param, rest } kind = literal;
  };
  struct Route {
    std::string pattern;
    std::vector<Segment> segments;
    std::vector<std::string> methods;
    Handler handler;
  };
  static bool match(const Route& r, std::string_view path,
                    std::vector<std::pair<std::string, std::string>>& params);

  std::vector<Route> routes_;
};

}  // namespace gev::http
