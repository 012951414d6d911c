/// @file
/// An HTTP response, as a handler returns it (the WSGI start_response + body, or Flask's return
/// value): a status, headers, and a body that is a string, a file, or produced piece by piece.
///
/// @code
/// return gev::http::Response{200, "<h1>Hello</h1>"};                 // text/html by default
/// return gev::http::Response::text(404, "no such user\n");
/// return gev::http::Response::stream(200, [](gev::http::BodyWriter& out) {
///   for (int i = 0; i < 3; ++i) out.write("tick\n");               // chunked on the wire
/// });
/// @endcode
///
/// The server adds Date, Server, and Content-Length (or Transfer-Encoding: chunked for a streamed
/// body on HTTP/1.1; on HTTP/1.0 a streamed body ends with the connection).
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

/// A header section: Boost.Beast's fields (case-insensitive names).
using Fields = boost::beast::http::fields;

/// Writes a streamed body (chunked on HTTP/1.1). write() parks while the client is slow, so a
/// producer never buffers more than one piece.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  /// Sends the next piece of the body (an empty piece sends nothing); parks while the client is
  /// slow.
  virtual void write(std::string_view piece) = 0;
};

/// The connection after a 101 Switching Protocols response (Response::upgrade): raw bytes both
/// ways, starting with whatever the client sent after its request. Cooperative like a Socket.
class Tunnel {
 public:
  virtual ~Tunnel() = default;
  /// Up to `size` bytes into `out`; 0: the peer closed. Throws on a connection error.
  virtual std::size_t recv(char* out, std::size_t size) = 0;
  /// Sends all of `data`.
  virtual void sendall(std::string_view data) = 0;
  /// The timeout of each later recv() and sendall() (nullopt, the initial setting: none).
  virtual void settimeout(std::optional<std::chrono::nanoseconds> timeout) = 0;
};

/// A response body that is a range of an open file, sent with sendfile(2).
struct FileBody {
  int fd = -1;               ///< owned by the response (closed after sending)
  std::uint64_t offset = 0;  ///< where the range starts in the file
  std::uint64_t length = 0;  ///< the number of bytes to send
};

/// A response: status, headers, and a body that is a string (`body`), a file range (`file`) or
/// produced while it is sent (`producer`), or a protocol upgrade (`on_upgrade`). Move-only.
class Response {
 public:
  /// 200 with no body and no headers.
  Response() = default;
  /// `status` with `body`, and a Content-Type header.
  Response(int status, std::string body,
           std::string_view content_type = "text/html; charset=utf-8");
  /// Takes over the other response's contents, file included (which it then no longer owns).
  Response(Response&&) noexcept;
  /// Takes over the other response's contents, file included; closes this response's file.
  Response& operator=(Response&&) noexcept;
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;
  /// Closes the file of a file body (FileBody::fd) if there is one.
  ~Response();

  /// A text/plain response.
  static Response text(int status, std::string body) {
    return Response(status, std::move(body), "text/plain; charset=utf-8");
  }
  /// A body produced by `producer` while the response is being sent.
  static Response stream(int status, std::function<void(BodyWriter&)> producer,
                         std::string_view content_type = "text/plain; charset=utf-8");
  /// 101 Switching Protocols to `protocol` (the Upgrade header); once it is sent, `take_over`
  /// runs with the raw connection, which closes when it returns.
  static Response upgrade(std::string_view protocol, std::function<void(Tunnel&)> take_over);
  /// A response whose body is a reason page for `status` ("404 Not Found").
  static Response error(int status);

  int status = 200;                           ///< the status code
  Fields headers;                             ///< the headers the handler sets
  std::string body;                           ///< the body, unless `producer` or `file` is set
  std::function<void(BodyWriter&)> producer;  ///< set: a streamed body
  std::optional<FileBody> file;               ///< set: the body is this file range (sendfile)
  std::function<void(Tunnel&)> on_upgrade;    ///< status 101: takes the connection over

  /// Sets header `name` to `value`, replacing any previous value.
  void set_header(std::string_view name, std::string_view value) {
    headers.set(boost::beast::string_view(name.data(), name.size()),
                boost::beast::string_view(value.data(), value.size()));
  }
};

/// The reason phrase of a status code ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status) noexcept;

}  // namespace gev::http
