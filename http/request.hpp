/// @file
/// An HTTP request as a handler sees it (WSGI's environ + wsgi.input, Flask's request): method,
/// target, headers, route parameters, and the body, read on demand.
///
/// @code
/// gev::http::Response hello(gev::http::Request& req) {
///   auto name = req.query("name").value_or("world");
///   std::string body = req.body();          // whole body, bounded by max_body_bytes (413)
///   return {200, "<h1>Hello " + name + "</h1>"};
/// }
/// @endcode
///
/// The body is not read before the handler asks: a client that sent "Expect: 100-continue" gets
/// its "100 Continue" only when the handler first reads. A body the handler leaves unread is
/// drained after the response (up to a limit) so the connection can be kept, or the connection
/// is closed.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gev/net/address.hpp"

namespace gev::http {

/// A header section: Boost.Beast's fields (case-insensitive names).
using Fields = boost::beast::http::fields;
/// A request method as Boost.Beast knows it (`Verb::get`, ...; `Verb::unknown` for others).
using Verb = boost::beast::http::verb;

/// Thrown by body reads when the request cannot be served: the server answers `status` (413 for
/// a body over the limit, 400 for a malformed body, 408 when the body stalls) and closes.
class RequestError : public std::runtime_error {
 public:
  /// An error for which the server answers `status`; `what` is the message.
  RequestError(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
  /// The status the server answers.
  int status() const noexcept { return status_; }

 private:
  int status_;
};

namespace detail {
// Where a request's body comes from: the connection, which parses it as it is read.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Up to `size` body bytes into `out`; 0 at the end of the body. Throws RequestError.
  virtual std::size_t read_body(char* out, std::size_t size) = 0;
};
}  // namespace detail

/// An HTTP request as a handler sees it: method, target, headers, route parameters, and the
/// body, read on demand. The server makes it; the handler gets it by reference.
class Request {
 public:
  /// Made by the server: `fields` must outlive the request, and `body` (nullptr: no body) is
  /// where the body is read from.
  Request(Verb verb, std::string method, std::string target, unsigned version, const Fields& fields,
          net::Address remote, detail::BodySource* body);

  /// The method as Boost.Beast parsed it.
  Verb verb() const noexcept { return verb_; }
  const std::string& method() const noexcept { return method_; }  ///< `"GET"`, as sent
  const std::string& target() const noexcept { return target_; }  ///< `"/a%20b?x=1"`, as sent
  std::string_view path() const noexcept;                         ///< `"/a%20b"` (not decoded)
  std::string_view query_string() const noexcept;                 ///< `"x=1"` (`""` when none)
  unsigned version() const noexcept { return version_; }          ///< 11 for HTTP/1.1
  /// All the request's headers.
  const Fields& headers() const noexcept { return fields_; }
  /// The value of a header ("" when absent); names are case-insensitive.
  std::string_view header(std::string_view name) const;
  /// Whether the request has header `name` (case-insensitive).
  bool has_header(std::string_view name) const;
  /// The client's address.
  const net::Address& remote_address() const noexcept { return remote_; }

  /// The decoded value of a query parameter (first occurrence), or nullopt.
  std::optional<std::string> query(std::string_view name) const;
  /// Every query parameter, decoded, in order.
  std::vector<std::pair<std::string, std::string>> query_params() const;

  /// A route parameter (`""` when absent): App's `"/user/<id>"` matched `"/user/42"` gives
  /// `param("id") == "42"`.
  const std::string& param(std::string_view name) const;
  /// All route parameters by name (App sets them before calling the handler).
  std::map<std::string, std::string, std::less<>>& params() noexcept { return params_; }

  /// @name The body
  /// read_body() streams it (0 at the end); body() reads the rest into a string; form() parses
  /// an application/x-www-form-urlencoded body. They throw RequestError (413, 400, 408).
  /// @{

  /// Up to `size` body bytes into `out`; 0 at the end of the body.
  std::size_t read_body(char* out, std::size_t size);
  /// The rest of the body.
  std::string body();
  /// The rest of the body parsed as application/x-www-form-urlencoded `name=value` pairs.
  std::vector<std::pair<std::string, std::string>> form();
  /// @}

 private:
  Verb verb_;
  std::string method_;
  std::string target_;
  unsigned version_;
  const Fields& fields_;
  net::Address remote_;
  detail::BodySource* body_;
  std::map<std::string, std::string, std::less<>> params_;
};

/// Percent-decoding for query strings and forms ('+' is a space unless `plus_is_space` is false).
/// Invalid escapes stay as sent.
std::string url_decode(std::string_view text, bool plus_is_space = true);
/// `name=value&...` pairs, decoded.
std::vector<std::pair<std::string, std::string>> parse_urlencoded(std::string_view text);

}  // namespace gev::http
