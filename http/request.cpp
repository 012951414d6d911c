#include "gev/http/request.hpp"

#include <utility>

namespace gev::http {

Request::Request(Verb verb, std::string method, std::string target, unsigned version,
                 const Fields& fields, net::Address remote, detail::BodySource* body)
    : verb_(verb),
      method_(std::move(method)),
      target_(std::move(target)),
      version_(version),
      fields_(fields),
      remote_(remote),
      body_(body) {}

std::string_view Request::path() const noexcept {
  std::string_view t = target_;
  return t.substr(0, t.find('?'));
}

std::string_view Request::query_string() const noexcept {
  std::string_view t = target_;
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view Request::header(std::string_view name) const {
  auto it = fields_.find(boost::beast::string_view(name.data(), name.size()));
  if (it == fields_.end()) return {};
  return {it->value().data(), it->value().size()};
}

bool Request::has_header(std::string_view name) const {
  return fields_.find(boost::beast::string_view(name.data(), name.size())) != fields_.end();
}

std::optional<std::string> Request::query(std::string_view name) const {
  for (auto& [k, v] : parse_urlencoded(query_string())) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> Request::query_params() const {
  return parse_urlencoded(query_string());
}

const std::string& Request::param(std::string_view name) const {
  static const std::string empty;
  auto it = params_.find(name);
  return it == params_.end() ? empty : it->second;
}

std::size_t Request::read_body(char* out, std::size_t size) {
  if (body_ == nullptr || size == 0) return 0;
  return body_->read_body(out, size);
}

std::string Request::body() {
  std::string out;
  char buf[16384];
  for (;;) {
    const std::size_t n = read_body(buf, sizeof buf);
    if (n == 0) return out;
    out.append(buf, n);
  }
}

std::vector<std::pair<std::string, std::string>> Request::form() {
  return parse_urlencoded(body());
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_urlencoded(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const auto amp = text.find('&');
    std::string_view part = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(url_decode(part), std::string());
    } else {
      out.emplace_back(url_decode(part.substr(0, eq)), url_decode(part.substr(eq + 1)));
    }
  }
  return out;
}

}  // namespace gev::http
