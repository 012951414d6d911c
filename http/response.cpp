#include "gev/http/response.hpp"

#include <unistd.h>

#include <boost/beast/http/status.hpp>
#include <utility>

namespace gev::http {

Response::Response(int status_code, std::string body_text, std::string_view content_type)
    : status(status_code), body(std::move(body_text)) {
  set_header("Content-Type", content_type);
}

Response::Response(Response&& o) noexcept
    : status(o.status),
      headers(std::move(o.headers)),
      body(std::move(o.body)),
      producer(std::move(o.producer)),
      file(std::exchange(o.file, std::nullopt)),
      on_upgrade(std::move(o.on_upgrade)) {}

Response& Response::operator=(Response&& o) noexcept {
  if (this != &o) {
    if (file && file->fd >= 0) ::close(file->fd);
    status = o.status;
    headers = std::move(o.headers);
    body = std::move(o.body);
    producer = std::move(o.producer);
    file = std::exchange(o.file, std::nullopt);
    on_upgrade = std::move(o.on_upgrade);
  }
  return *this;
}

Response::~Response() {
  if (file && file->fd >= 0) ::close(file->fd);
}

Response Response::stream(int status_code, std::function<void(BodyWriter&)> body_producer,
                          std::string_view content_type) {
  Response r;
  r.status = status_code;
  r.producer = std::move(body_producer);
  r.set_header("Content-Type", content_type);
  return r;
}

Response Response::upgrade(std::string_view protocol, std::function<void(Tunnel&)> take_over) {
  Response r;
  r.status = 101;
  r.set_header("Upgrade", protocol);
  r.on_upgrade = std::move(take_over);
  return r;
}

Response Response::error(int status_code) {
  std::string text = std::to_string(status_code) + " " + std::string(reason_phrase(status_code));
  Response r(status_code, "<h1>" + text + "</h1>\n");
  return r;
}

std::string_view reason_phrase(int status) noexcept {
  const auto s =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  return s.empty() ? std::string_view("Unknown") : std::string_view(s.data(), s.size());
}

}  // namespace gev::http
