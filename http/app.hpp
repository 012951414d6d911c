/// @file
/// gev::http::App: routes to handlers, the Flask analog.
///
/// @code
/// gev::http::App app;
/// app.route("/", [](gev::http::Request&) { return gev::http::Response{200, "Hello World!"}; });
/// app.route("/user/<id>", [](gev::http::Request& req) {
///   return gev::http::Response::text(200, "user " + req.param("id"));
/// });
/// app.route("/upload", upload_handler, {"POST"});
/// gev::http::Server server{{"127.0.0.1", 5000}, app};   // an App is a Handler
/// @endcode
#pragma once

#include <string>
#include <vector>

#include "gev/http/request.hpp"
#include "gev/http/response.hpp"
#include "gev/http/server.hpp"

namespace gev::http {

/// Routes requests to handlers by path pattern and method, the Flask analog. An App is a
/// Handler: pass it to a Server.
///
/// A pattern is a path whose segments may be `<name>` (one segment, percent-decoded into
/// `req.param("name")`) or, last, `<path:name>` (the rest of the path). Routes are tried in the
/// order they were added. No route matches: 404. A route matches but not for this method: 405
/// with an Allow header. A GET route also answers HEAD.
class App {
 public:
  /// Adds a route: requests whose path matches `pattern` and whose method is one of `methods`
  /// go to `handler`. Returns `*this`. Throws std::invalid_argument for a malformed pattern (not
  /// starting with '/', an unclosed '<', an empty name, `<path:...>` not last) or an empty
  /// handler.
  App& route(std::string pattern, Handler handler, std::vector<std::string> methods = {"GET"});

  /// Dispatches `req`: the first matching route's handler, with the route parameters set in
  /// `req.params()`; otherwise a 405 (with Allow) or a 404 response.
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
