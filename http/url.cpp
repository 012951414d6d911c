#include "gev/http/url.hpp"

#include <cctype>

namespace gev::http {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool clean(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string Url::authority() const {
  std::string h;
  if (host.find(':') != std::string::npos) {  // an IPv6 literal goes in brackets
    h.reserve(host.size() + 8);
    h.push_back('[');
    h.append(host);
    h.push_back(']');
  } else {
    h = host;
  }
  if (!default_port()) {
    h.push_back(':');
    h.append(std::to_string(port));
  }
  return h;
}

std::string Url::to_string() const {
  return scheme + "://" + authority() + target;
}

std::optional<Url> parse_url(std::string_view text) {
  if (!clean(text)) return std::nullopt;
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  Url u;
  u.scheme = lower(text.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  std::string_view rest = text.substr(sep + 3);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  const auto path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  u.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (!u.target.empty() && u.target[0] == '?') u.target = "/" + u.target;
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return std::nullopt;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    u.host = lower(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) return std::nullopt;
  if (port_text.empty()) {
    u.port = u.is_https() ? 443 : 80;
  } else {
    if (port_text.size() > 5) return std::nullopt;
    unsigned long p = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return std::nullopt;
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p == 0 || p > 65535) return std::nullopt;
    u.port = static_cast<std::uint16_t>(p);
  }
  return u;
}

std::optional<Url> resolve_location(const Url& base, std::string_view loc) {
  if (loc.find("://") != std::string_view::npos) return parse_url(loc);
  if (!clean(loc)) return std::nullopt;
  if (loc.rfind("//", 0) == 0) return parse_url(base.scheme + ":" + std::string(loc));
  Url u = base;
  if (const auto hash = loc.find('#'); hash != std::string_view::npos) loc = loc.substr(0, hash);
  if (loc.empty()) return u;
  if (loc[0] == '/') {
    u.target = std::string(loc);
  } else if (loc[0] == '?') {
    u.target = base.target.substr(0, base.target.find('?')) + std::string(loc);
  } else {
    std::string path = base.target.substr(0, base.target.find('?'));
    path = path.substr(0, path.rfind('/') + 1);
    u.target = path + std::string(loc);
  }
  return u;
}

}  // namespace gev::http
