// An HTTP response, as a handler returns it (the WSGI start_response + body, or Flask's return
// value): a status, headers, and a body that is a string, a file, or produced piece by piece.
//
//   return gev::http::Response{200, "<h1>Hello</h1>"};                 // text/html by default
//   return gev::http::Response::text(404, "no such user\n");
//   return gev::http::Response::stream(200, [](gev::http::BodyWriter& out) {
//     for (int i = 0; i < 3; ++i) out.write("tick\n");               // chunked on the wire
//   });
//
// The server adds Date, Server, and Content-Length (or Transfer-Encoding: chunked for a streamed
// body on HTTP/1.1; on HTTP/1.0 a streamed body ends with the connection).
#pragma once

#include <boost/beast/http/fields.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gev::http {

using Fields = boost::beast::http::fields;

// Writes a streamed body (chunked on HTTP/1.1). write() parks while the client is slow, so a
// producer never buffers more than one piece.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  virtual void write(std::string_view piece) = 0;
};

// The connection after a 101 Switching Protocols response (Response::upgrade): raw bytes both
// ways, starting with whatever the client sent after its request. Cooperative like a Socket.
class Tunnel {
 public:
  virtual ~Tunnel() = default;
  virtual std::size_t recv(char* out, std::size_t size) = 0;  // 0: the peer closed
  virtual void sendall(std::string_view data) = 0;
  virtual void settimeout(std::optional<std::chrono::nanoseconds> timeout) = 0;
};

struct FileBody {
  int fd = -1;  // owned by the response (closed after sending)
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

class Response {
 public:
  Response() = default;
  Response(int status, std::string body,
           std::string_view content_type = "text/html; charset=utf-8");
  Response(Response&&) noexcept;
  Response& operator=(Response&&) noexcept;
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;
  ~Response();

  static Response text(int status, std::string body) {
    return Response(status, std::move(body), "text/plain; charset=utf-8");
  }
  // A body produced by `producer` while the response is being sent.
  static Response stream(int status, std::function<void(BodyWriter&)> producer,
                         std::string_view content_type = "text/plain; charset=utf-8");
  // 101 Switching Protocols to `protocol` (the Upgrade header); once it is sent, `take_over`
  // runs with the raw connection, which closes when it returns.
  static Response upgrade(std::string_view protocol, std::function<void(Tunnel&)> take_over);
  // An empty response with a reason page for `status` ("404 Not Found").
  static Response error(int status);

  int status = 200;
  Fields headers;
  std::string body;
  std::function<void(BodyWriter&)> producer;  // set: a streamed body
  std::optional<FileBody> file;               // set: the body is this file range (sendfile)
  std::function<void(Tunnel&)> on_upgrade;    // status 101: takes the connection over

  void set_header(std::string_view name, std::string_view value) {
    headers.set(boost::beast::string_view(name.data(), name.size()),
                boost::beast::string_view(value.data(), value.size()));
  }
};

// The reason phrase of a status code ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status) noexcept;

}  // namespace gev::http
