/// @file
/// StreamServer: a TCP (or Unix-stream) server that runs each connection's handler in its own
/// greenlet (gevent.server.StreamServer).
///
/// @code
/// gev::net::StreamServer server{{"127.0.0.1", 8000}, [](gev::net::Socket& client,
///                                                        const gev::net::Address& peer) {
///   char buf[4096];
///   while (std::size_t n = client.recv(buf, sizeof buf)) client.sendall(buf, n);
/// }};
/// server.serve_forever();          // or start(), then later stop(5s)
/// @endcode
///
/// The accept loop accepts up to `max_accept` connections per wake-up before letting the
/// handlers run, stops accepting while `max_connections` handlers are running (the listen
/// backlog holds the rest), and backs off (10 ms doubling to 1 s) instead of spinning when the
/// process runs out of descriptors (EMFILE/ENFILE). Each client socket is closed when its
/// handler returns or throws; a handler's exception is reported through the error hook.
/// stop(timeout): close the listener, wait up to `timeout` for running handlers, then kill the
/// rest (GreenletExit at their blocking points). Called from a handler (which cannot wait for
/// itself), stop() stops accepting at once, finishes the stop in a new greenlet and returns
/// false.
///
/// TLS: give the server an ssl::Context (Context::server(cert, key)) and a handler taking an
/// ssl::Stream. Each client's handshake runs in its handler greenlet, bounded by
/// `handshake_timeout`; a failed handshake is reported through the error hook
/// ("StreamServer(ADDR) TLS handshake with PEER") and the connection closed, and the server goes
/// on. The stream is closed when the handler returns (after a best-effort close_notify) or throws
/// (without one, so the client cannot mistake a failed response for a complete one).
///
/// @code
/// gev::net::StreamServer tls_server{{"127.0.0.1", 8443},
///                                   gev::net::ssl::Context::server("cert.pem", "key.pem"),
///                                   [](gev::net::ssl::Stream& client, const gev::net::Address&) {
///   char buf[4096];
///   while (std::size_t n = client.recv(buf, sizeof buf)) client.sendall(buf, n);
/// }};
/// @endcode
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "gev/hub/hub.hpp"
#include "gev/net/address.hpp"
#include "gev/net/detail/server_stop.hpp"
#include "gev/net/socket.hpp"
#include "gev/runtime/event.hpp"
#include "gev/runtime/greenlet.hpp"
#include "gev/runtime/pool.hpp"

namespace gev::net {

namespace ssl {
class Context;
class Stream;
}  // namespace ssl

/// The settings of a StreamServer (StreamServer::Options).
struct StreamServerOptions {
  std::size_t max_connections = 10'000;  ///< Concurrent handlers; further clients wait.
  std::size_t max_accept = 100;          ///< Accepts per wake-up before handlers run (>= 1).
  int backlog = SOMAXCONN;               ///< The listen(2) backlog.
  bool reuse_address = true;             ///< SO_REUSEADDR.
  bool reuse_port = false;               ///< SO_REUSEPORT (several servers on one port).
  /// TCP_NODELAY on each accepted TCP client, as Go does: small replies leave at once instead of
  /// waiting for the peer's delayed ACK (Nagle). Unix-domain clients are left alone.
  bool no_delay = true;
  /// TLS servers: the bound on each client's handshake (nullopt: none). The handler then gets
  /// the stream with no timeout, like a plain accepted socket.
  std::optional<Duration> handshake_timeout = std::chrono::seconds(10);
};

/// A TCP (or Unix-stream) server that runs each connection's handler in its own greenlet
/// (gevent.server.StreamServer), optionally over TLS.
class StreamServer {
 public:
  /// A connection's handler: the client's socket (closed when the handler returns) and address.
  using Handler = std::function<void(Socket& client, const Address& peer)>;
  /// A TLS server's handler: the client's stream, its handshake done.
  using TlsHandler = std::function<void(ssl::Stream& client, const Address& peer)>;

  using Options = StreamServerOptions;  ///< The server's settings.

  /// A server for `listen_address` (bound by start()). Throws std::invalid_argument for an
  /// empty handler or max_accept == 0 (as do the other constructors).
  StreamServer(Address listen_address, Handler handler);
  /// A server for `listen_address` with `options`.
  StreamServer(Address listen_address, Handler handler, Options options);
  /// A socket already bound (and maybe listening): the server takes it over.
  StreamServer(Socket listener, Handler handler, Options options = {});
  /// A TLS server for `listen_address`: `tls` must be a server context (std::invalid_argument
  /// otherwise).
  StreamServer(Address listen_address, const ssl::Context& tls, TlsHandler handler,
               Options options = {});
  /// A TLS server over a socket already bound (and maybe listening); `tls` must be a server
  /// context (std::invalid_argument otherwise).
  StreamServer(Socket listener, const ssl::Context& tls, TlsHandler handler, Options options = {});
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;
  ~StreamServer();  ///< stop(0s) if still running.

  /// Binds, listens and starts the accept loop in a greenlet; returns at once.
  void start();
  /// start() (if needed), then parks until stop() is called (from another greenlet or a signal
  /// handler).
  void serve_forever();
  /// Stops accepting, waits up to `timeout` for running handlers, then kills the rest.
  /// Idempotent; a concurrent second call waits for the first (and takes over should the first
  /// be killed or time out). Returns whether every handler finished on its own. Called from a
  /// handler (which cannot wait for itself), it stops accepting at once, finishes the stop in a
  /// new greenlet and returns false.
  bool stop(std::optional<Duration> timeout = std::chrono::seconds(1));

  /// The bound address (with the real port when 0 was asked for). Valid after start().
  const Address& address() const noexcept { return address_; }
  bool started() const noexcept { return started_; }        ///< True once start() ran.
  bool closed() const noexcept { return stop_.stopped(); }  ///< True once a stop finished.
  /// Handlers running now.
  std::size_t connections() const noexcept { return pool_.size(); }
  /// Connections accepted so far.
  std::uint64_t accepted() const noexcept { return accepted_; }

 private:
  void accept_loop();
  // The server's part of a stop (detail::ServerStop runs the protocol): stop accepting, close
  // the listener, wait for the handlers up to `timeout`, kill the rest; true if all finished.
  bool finish_stop(std::optional<Duration> timeout);
  // The plain handler that runs the TLS handshake, then `handler`.
  static Handler tls_handler(StreamServer* self, const ssl::Context& tls, TlsHandler handler);

  Address address_;
  Handler handler_;
  Options options_;
  Socket listener_;
  Pool pool_;
  std::shared_ptr<Greenlet<void>> acceptor_;
  detail::ServerStop stop_{
      [this](std::optional<Duration> timeout) { return finish_stop(timeout); }};
  bool started_ = false;
  std::uint64_t accepted_ = 0;
};

}  // namespace gev::net
