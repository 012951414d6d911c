/// @file
/// gev::http::Server: an HTTP/1.1 server (gevent.pywsgi's WSGIServer). Each connection runs in
/// its own greenlet; requests are parsed by Boost.Beast's strict parser, handed to the handler,
/// and answered in order (keep-alive and pipelining).
///
/// @code
/// gev::http::Server server{{"127.0.0.1", 8000}, [](gev::http::Request& req) {
///   return gev::http::Response{200, "<h1>Hello</h1>"};
/// }};
/// server.serve_forever();
/// @endcode
///
/// Limits have nginx-like defaults (ServerOptions) and fail with the status nginx sends: a
/// request line over 8 KiB -> 414, a header section over 32 KiB or over 100 fields -> 431, a body
/// over 1 MiB -> 413, a header section not complete 30 s after its first byte -> 408 (a total
/// deadline, so a client sending one byte at a time cannot hold a connection), a stalled body
/// -> 408. Framing is strict: Content-Length together with Transfer-Encoding, differing or repeated
/// Content-Length, a Transfer-Encoding other than "chunked" (501), bad chunk sizes, obs-fold,
/// bare CR or LF, and a missing or repeated Host on HTTP/1.1 are answered 400 and the connection
/// is closed -- the server never tries to find the next request after a framing error.
///
/// stop(timeout) stops accepting, closes idle keep-alive connections at once, lets requests in
/// flight finish (their responses say "Connection: close"), and kills what remains at the
/// deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gev/http/request.hpp"
#include "gev/http/response.hpp"
#include "gev/net/address.hpp"
#include "gev/net/socket.hpp"

namespace gev::net::ssl {
class Context;
}

namespace gev::http {

/// A timeout or interval.
using Duration = std::chrono::nanoseconds;
/// What answers a request: an App, or any callable from Request& to Response.
using Handler = std::function<Response(Request&)>;

/// Server limits and behaviour; the defaults are nginx-like.
struct ServerOptions {
  std::size_t max_request_line = 8 * 1024;             ///< bytes, else 414
  std::size_t max_header_bytes = 32 * 1024;            ///< the whole header section, else 431
  std::size_t max_header_count = 100;                  ///< fields, else 431
  std::uint64_t max_body_bytes = 1 << 20;              ///< else 413
  Duration header_timeout = std::chrono::seconds(30);  ///< from the first byte, else 408
  Duration body_timeout = std::chrono::seconds(60);    ///< between body reads, else 408
  /// Between writes, else the connection goes.
  Duration send_timeout = std::chrono::seconds(60);
  Duration keepalive_timeout = std::chrono::seconds(75);  ///< idle between requests
  /// Requests on one connection; the response to the last says "Connection: close".
  std::size_t max_requests_per_connection = 1000;
  std::uint64_t max_drain_bytes = 64 * 1024;  ///< an unread body up to this is read and dropped
  std::size_t max_connections = 10'000;       ///< further clients wait in the listen backlog
  std::string server_header = "gev";          ///< the Server header ("" for none)
  /// Access log in Apache's combined format, like pywsgi (nullptr: off).
  std::FILE* access_log = stderr;
  /// SO_REUSEPORT on the listening socket (set anyway when workers > 1).
  bool reuse_port = false;
  /// HTTPS: the bound on each client's TLS handshake (nullopt: none).
  std::optional<Duration> tls_handshake_timeout = std::chrono::seconds(10);
  /// Multi-core: N hubs, each on its own thread with its own listening socket on the same port
  /// (SO_REUSEPORT; the kernel spreads connections). The handler is copied to every worker and
  /// called on several threads at once: it must be thread-safe. 1: this hub only.
  unsigned workers = 1;
  /// serve_forever() stops gracefully on SIGTERM or SIGQUIT (stop(graceful_timeout)); a second
  /// signal ends the remaining connections at once.
  bool handle_signals = true;
  /// The timeout of the graceful stop on SIGTERM or SIGQUIT (see handle_signals).
  Duration graceful_timeout = std::chrono::seconds(10);
};

/// An HTTP/1.1 server: each connection in its own greenlet, requests answered in order by the
/// handler (limits, framing and stop() are described in server.hpp).
class Server {
 public:
  /// A plain HTTP server on `address` (not yet listening: see start()). Throws
  /// std::invalid_argument for an empty handler or `options.workers == 0`.
  Server(net::Address address, Handler handler, ServerOptions options = {});
  /// HTTPS: `tls` is a server context (gev::net::ssl::Context::server(...)).
  Server(net::Address address, const net::ssl::Context& tls, Handler handler,
         ServerOptions options = {});
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  ///< stop(0s) if still running

  void start();          ///< bind, listen and accept in the background
  void serve_forever();  ///< start(), then park until stop()
  /// Graceful stop (see server.hpp): stops accepting, ends idle connections, waits up to
  /// `timeout` for requests in flight, then kills the rest. Returns true when every connection
  /// ended on its own.
  bool stop(std::optional<Duration> timeout = std::chrono::seconds(1));

  /// The bound address (port 0 resolved) after start().
  const net::Address& address() const;
  /// Whether start() has been called.
  bool started() const noexcept;
  /// The connections open on this hub (not the other workers).
  std::size_t connections() const noexcept;
  std::uint64_t requests_served() const noexcept;  ///< by this hub (not the other workers)
  std::size_t workers_running() const noexcept;    ///< the extra worker threads started

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

namespace detail {
// Serves one already-accepted connection the way Server does, in the calling greenlet, until the
// connection ends. For the fuzzer and for tests that drive a connection over a socketpair.
void serve_connection(net::Socket& socket, const net::Address& peer, const Handler& handler,
                      const ServerOptions& options);
}  // namespace detail

}  // namespace gev::http
