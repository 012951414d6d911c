#include "gev/http/app.hpp"

#include <stdexcept>

namespace gev::http {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 1;  // after the leading '/'
  while (i <= path.size()) {
    const std::size_t slash = path.find('/', i);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    out.push_back(path.substr(i, end - i));
    if (slash == std::string_view::npos) break;
    i = slash + 1;
  }
  return out;
}

}  // namespace

App& App::route(std::string pattern, Handler handler, std::vector<std::string> methods) {
  if (pattern.empty() || pattern[0] != '/') {
    throw std::invalid_argument("gev::http::App::route: pattern must start with '/': " + pattern);
  }
  if (!handler) throw std::invalid_argument("gev::http::App::route: empty handler for " + pattern);
  Route r;
  r.pattern = pattern;
  r.handler = std::move(handler);
  r.methods = std::move(methods);
  const auto parts = split_path(pattern);
  for (std::size_t k = 0; k < parts.size(); ++k) {
    std::string_view part = parts[k];
    Segment s;
    if (!part.empty() && part.front() == '<') {
      if (part.size() < 3 || part.back() != '>') {
        throw std::invalid_argument("gev::http::App::route: bad parameter in " + pattern);
      }
      std::string_view name = part.substr(1, part.size() - 2);
      s.kind = Segment::param;
      if (name.rfind("path:", 0) == 0) {
        name.remove_prefix(5);
        s.kind = Segment::rest;
        if (k + 1 != parts.size()) {
          throw std::invalid_argument("gev::http::App::route: <path:...> must be last in " +
                                      pattern);
        }
      }
      if (name.empty())
        throw std::invalid_argument("gev::http::App::route: empty name in " + pattern);
      s.text = std::string(name);
    } else {
      if (part.find('<') != std::string_view::npos || part.find('>') != std::string_view::npos) {
        throw std::invalid_argument("gev::http::App::route: '<' or '>' inside a segment of " +
                                    pattern);
      }
      s.text = std::string(part);
    }
    r.segments.push_back(std::move(s));
  }
  routes_.push_back(std::move(r));
  return *this;
}

bool App::match(const Route& r, std::string_view path,
                std::vector<std::pair<std::string, std::string>>& params) {
  params.clear();
  if (path.empty() || path[0] != '/') return false;
  const auto parts = split_path(path);
  std::size_t k = 0;
  for (const Segment& s : r.segments) {
    if (s.kind == Segment::rest) {
      if (k >= parts.size()) return false;
      const std::size_t start = static_cast<std::size_t>(parts[k].data() - path.data());
      const std::string_view rest = path.substr(start);
      if (rest.empty()) return false;
      params.emplace_back(s.text, url_decode(rest, false));
      return true;
    }
    if (k >= parts.size()) return false;
    if (s.kind == Segment::literal) {
      if (parts[k] != s.text) return false;
    } else {
      if (parts[k].empty()) return false;
      params.emplace_back(s.text, url_decode(parts[k], false));
    }
    ++k;
  }
  return k == parts.size();
}

Response App::operator()(Request& req) const {
  std::vector<std::pair<std::string, std::string>> params;
  std::string allowed;
  for (const Route& r : routes_) {
    if (!match(r, req.path(), params)) continue;
    for (const std::string& m : r.methods) {
      if (m == req.method() || (m == "GET" && req.method() == "HEAD")) {
        for (auto& [k, v] : params) req.params()[k] = v;
        return r.handler(req);
      }
    }
    for (const std::string& m : r.methods) {
      if (allowed.find(m) == std::string::npos) allowed += (allowed.empty() ? "" : ", ") + m;
      if (m == "GET" && allowed.find("HEAD") == std::string::npos) allowed += ", HEAD";
    }
  }
  if (!allowed.empty()) {
    Response resp = Response::error(405);
    resp.set_header("Allow", allowed);
    return resp;
  }
  return Response::error(404);
}

}  // namespace gev::http
