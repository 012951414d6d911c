/// @file
/// The HTTP/1.1 client (urllib / requests): one-shot get/post/request, and Client with a
/// keep-alive connection pool per (scheme, host, port).
///
/// @code
/// auto r = gev::http::get("https://example.com/", {.timeout = 5s});
/// if (r.status == 200) std::cout << r.body;
///
/// gev::http::Client client;                      // reuses connections across requests
/// client.stream("http://host/big.iso", [&](std::string_view piece) { file.write(piece); });
/// @endcode
///
/// HTTPS verifies the server (system trust store, or ca_file) and its name by default. Redirects
/// are followed (10 at most; 303, and 301/302 after a POST, become GET; https -> http refused
/// unless allowed). Bodies framed by Content-Length or chunked; a body that ends early is a
/// ClientError (Kind::truncated), never a short success. gzip/deflate are decoded (zlib) when
/// the client asked for them. http_proxy / https_proxy / no_proxy from the environment are used
/// (https through CONNECT). Every wait is bounded by connect_timeout, read_timeout (between
/// reads) and the total timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/fields.hpp>

#include "gev/http/url.hpp"

namespace gev::http {

/// A timeout or interval.
using Duration = std::chrono::nanoseconds;
/// A header section: Boost.Beast's fields (case-insensitive names).
using Fields = boost::beast::http::fields;

/// Why a request failed: kind() says what went wrong, what() the details.
class ClientError : public std::runtime_error {
 public:
  /// What went wrong.
  enum class Kind {
    invalid_url,         ///< not an absolute http(s) URL
    connect,             ///< DNS failure, refused, unreachable
    timeout,             ///< connect, read or total timeout
    tls,                 ///< handshake or certificate verification failed
    protocol,            ///< a malformed response
    truncated,           ///< the body ended before its announced end
    too_large,           ///< over max_body_bytes / the header limit
    too_many_redirects,  ///< more than RequestOptions::max_redirects
    insecure_redirect,   ///< https -> http, refused by default
    proxy,               ///< the proxy refused CONNECT
  };
  /// An error of `kind` with the message `what`.
  ClientError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  /// What went wrong.
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

/// How to make one request: method, headers, body, timeouts, redirects, limits.
struct RequestOptions {
  std::string method = "GET";  ///< the request method, as sent
  /// Added to (or replacing) the defaults.
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};  ///< the request body (sent with a Content-Length)
  /// The bound on connecting to the server or the proxy (nullopt: none).
  std::optional<Duration> connect_timeout = std::chrono::seconds(10);
  std::optional<Duration> read_timeout = std::chrono::seconds(30);  ///< between reads
  std::optional<Duration> timeout{};     ///< the whole request, redirects included
  bool follow_redirects = true;          ///< follow 301, 302, 303, 307 and 308
  int max_redirects = 10;                ///< more: ClientError (Kind::too_many_redirects)
  bool allow_insecure_redirect = false;  ///< https -> http
  bool decompress = true;                ///< Accept-Encoding: gzip, deflate, and decode
  /// A longer body is a ClientError (Kind::too_large).
  std::uint64_t max_body_bytes = std::uint64_t{1} << 32;
  /// Range: first..last (inclusive; nullopt last: to the end), sent as "Range: bytes=...".
  std::optional<std::pair<std::uint64_t, std::optional<std::uint64_t>>> range{};
  std::string user_agent = "gev-http/0.1";  ///< the User-Agent header ("" for none)
};

/// A response as the client received it.
struct ClientResponse {
  int status = 0;                  ///< the status code
  std::string reason;              ///< the reason phrase, as sent
  Fields headers;                  ///< the response's headers
  std::string body;                ///< decoded; empty when streamed
  std::string url;                 ///< after redirects
  int redirects = 0;               ///< the redirects followed
  bool reused_connection = false;  ///< the connection came from the pool

  /// The value of a header ("" when absent); names are case-insensitive.
  std::string_view header(std::string_view name) const;
};

/// Where Client::stream_to_file puts a body: `fd` (a regular file, open for writing) from
/// `offset` on, at most `max_bytes` of it (the connection is closed after them if the body is
/// longer, e.g.\ the part of an open-ended range that a downloader wants).
struct FileTarget {
  int fd = -1;                                  ///< the file, open for writing
  std::uint64_t offset = 0;                     ///< where in the file the body starts
  std::uint64_t max_bytes = ~std::uint64_t{0};  ///< the most of the body to write
};

/// Options of a Client: TLS verification, the connection pool, proxies.
struct ClientOptions {
  std::string ca_file{};              ///< empty: the system trust store
  bool verify = true;                 ///< false only by explicit choice (`--insecure`)
  std::size_t max_idle_per_host = 8;  ///< idle keep-alive connections kept per (scheme,host,port)
  /// How long an idle connection stays reusable.
  Duration idle_timeout = std::chrono::seconds(60);
  bool use_env_proxy = true;  ///< http_proxy, https_proxy, no_proxy (and upper case)
  /// The proxy for http URLs; overrides the environment.
  std::optional<std::string> http_proxy{}, https_proxy{};  ///< The proxy for https URLs;
                                                           ///< overrides the environment.
};

/// An HTTP client with a keep-alive connection pool per (scheme, host, port). Not copyable.
class Client {
 public:
  /// A client with an empty pool.
  explicit Client(ClientOptions options = {});
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  /// Closes the pooled connections.
  ~Client();

  /// @name Requests
  /// Each throws ClientError when the request fails; an HTTP error status is a response.
  /// @{

  /// A request as `options` say (method, headers, body, ...).
  ClientResponse request(std::string_view url, const RequestOptions& options = {});
  /// A GET request.
  ClientResponse get(std::string_view url, RequestOptions options = {});
  /// A POST request with `body`.
  ClientResponse post(std::string_view url, std::string body, RequestOptions options = {});
  /// The body goes to on_chunk piece by piece (decoded), not into ClientResponse::body.
  ClientResponse stream(std::string_view url, const std::function<void(std::string_view)>& on_chunk,
                        RequestOptions options = {});
  /// As above, and on_head first sees the final response's status and headers (after redirects,
  /// before any of its body): a downloader picks its file there, or throws to refuse the body
  /// (the connection is then closed, not pooled).
  ClientResponse stream(std::string_view url,
                        const std::function<void(const ClientResponse&)>& on_head,
                        const std::function<void(std::string_view)>& on_chunk,
                        RequestOptions options = {});

  /// The body into a file, for downloaders: on_head sees the final response's status and
  /// headers and says where its body goes (or throws to refuse it); on_progress(n) follows every
  /// n bytes written, and may throw to stop. Over plain HTTP a Content-Length body is moved from
  /// the socket into the file with splice(2), never copied through user space; other bodies
  /// (TLS, chunked, compressed) are written with pwrite. A disk error is std::system_error.
  ClientResponse stream_to_file(std::string_view url,
                                const std::function<FileTarget(const ClientResponse&)>& on_head,
                                const std::function<void(std::uint64_t)>& on_progress,
                                RequestOptions options = {});
  /// @}

  /// The idle connections in the pool, all hosts together.
  std::size_t idle_connections() const;
  /// Closes every idle connection in the pool.
  void close_idle();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// @name One-shot helpers
/// On a per-thread default Client (connections are reused between calls).
/// @{

/// Client::request() on this thread's default Client.
ClientResponse request(std::string_view url, const RequestOptions& options = {});
/// Client::get() on this thread's default Client.
ClientResponse get(std::string_view url, RequestOptions options = {});
/// Client::post() on this thread's default Client.
ClientResponse post(std::string_view url, std::string body, RequestOptions options = {});
/// @}

}  // namespace gev::http
