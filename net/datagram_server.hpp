/// @file
/// DatagramServer: a UDP (or Unix-datagram) server that calls a handler for every datagram
/// received (gevent.server.DatagramServer).
///
/// @code
/// gev::net::DatagramServer server{{"127.0.0.1", 5353}, [](std::string_view data,
///                                                         const gev::net::Address& from,
///                                                         gev::net::DatagramServer& srv) {
///   srv.sendto(data, from);        // echo
/// }};
/// server.serve_forever();          // or start(), then later stop(5s)
/// @endcode
///
/// One receive-loop greenlet reads the datagrams. By default each datagram's handler runs in its
/// own greenlet of a Pool bounded by `max_handlers`; at the bound the loop stops reading, so the
/// kernel's receive buffer holds (and, once full, drops) what arrives meanwhile, which is UDP's
/// only back-pressure. With `inline_handler` the loop calls the handler itself (gevent's
/// spawn=None): no greenlet per datagram, one datagram at a time.
///
/// `data` is valid only during the handler call (copy what must outlive it). A datagram longer
/// than `max_datagram` is never delivered cut: it is dropped, counted in truncated() and reported
/// through the error hook as a DatagramTooLarge. A handler's exception is reported through the
/// error hook and the server keeps serving. ICMP errors (ECONNREFUSED and the like, which Linux
/// reports to a connected UDP socket or one with IP_RECVERR, at its next receive or send call)
/// concern a datagram sent earlier: they are counted in socket_errors() and skipped. Unexpected
/// receive errors are reported and retried after a back-off (10 ms doubling to 1 s).
///
/// stop(timeout): stop receiving, wait up to `timeout` for running handlers (they can still
/// reply with sendto meanwhile), kill the rest (GreenletExit at their blocking points), then close
/// the socket, so the port is free when stop() returns.
///
/// A server belongs to the hub of the thread that created it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "gev/hub/hub.hpp"
#include "gev/net/address.hpp"
#include "gev/net/detail/server_stop.hpp"
#include "gev/net/socket.hpp"
#include "gev/runtime/event.hpp"
#include "gev/runtime/greenlet.hpp"
#include "gev/runtime/lock.hpp"
#include "gev/runtime/pool.hpp"

namespace gev::net {

/// The settings of a DatagramServer (DatagramServer::Options).
struct DatagramServerOptions {
  /// Handler greenlets running at once; at the bound the server stops reading until one ends.
  std::size_t max_handlers = 10'000;
  /// Call the handler in the receive loop itself instead of a greenlet per datagram (gevent's
  /// spawn=None). Cheapest for handlers that never block; max_handlers is then unused.
  bool inline_handler = false;
  /// The longest datagram delivered (bytes); longer ones are dropped and reported.
  std::size_t max_datagram = 65'535;
  /// Datagrams received in a row before other greenlets (the handlers) get to run.
  std::size_t max_batch = 100;
  /// SO_REUSEADDR. Off by default: UDP has no TIME_WAIT to skip, and on Linux the option lets a
  /// second socket bind the same port and silently take its datagrams.
  bool reuse_address = false;
  bool reuse_port = false;  ///< SO_REUSEPORT (several servers sharing one port).
  int receive_buffer = 0;   ///< SO_RCVBUF in bytes when > 0 (the kernel doubles it).
};

/// A datagram longer than max_datagram arrived and was dropped (errno EMSGSIZE). Passed to the
/// error hook; never thrown to the caller.
class DatagramTooLarge : public std::system_error {
 public:
  /// The error for a datagram of `size` bytes from `from`, over the `limit` (max_datagram).
  DatagramTooLarge(const std::string& what, std::size_t size, std::size_t limit, Address from)
      : std::system_error(std::make_error_code(std::errc::message_size), what),
        size_(size),
        limit_(limit),
        from_(std::move(from)) {}
  /// The datagram's real length (as the kernel reports it with MSG_TRUNC).
  std::size_t size() const noexcept { return size_; }
  std::size_t limit() const noexcept { return limit_; }   ///< The server's max_datagram.
  const Address& from() const noexcept { return from_; }  ///< The datagram's sender.

 private:
  std::size_t size_;
  std::size_t limit_;
  Address from_;
};

/// A UDP (or Unix-datagram) server that calls a handler for every datagram received
/// (gevent.server.DatagramServer), each in its own greenlet of a bounded pool by default.
class DatagramServer {
 public:
  /// `data` lives until the handler returns; `server` is this server (reply with server.sendto).
  using Handler =
      std::function<void(std::string_view data, const Address& from, DatagramServer& server)>;
  using Options = DatagramServerOptions;  ///< The server's settings.

  /// A server for `bind_address` (bound by start()). Throws std::invalid_argument for an empty
  /// handler, max_datagram == 0, or max_handlers == 0 without inline_handler.
  DatagramServer(Address bind_address, Handler handler);
  /// A server for `bind_address` with `options`; throws as the two-argument constructor.
  DatagramServer(Address bind_address, Handler handler, Options options);
  /// A datagram socket already bound (maybe connected): the server takes it over. Also throws
  /// std::invalid_argument for a closed socket or one that is not SOCK_DGRAM.
  DatagramServer(Socket socket, Handler handler, Options options = {});
  DatagramServer(const DatagramServer&) = delete;
  DatagramServer& operator=(const DatagramServer&) = delete;
  ~DatagramServer();  ///< stop(0s) if still running.

  /// Creates and binds the socket (unless one was given) and starts the receive loop in a
  /// greenlet; returns at once. Throws std::system_error if the bind fails. A second call is a
  /// no-op.
  void start();
  /// start() (if needed), then parks until the server is stopped.
  void serve_forever();
  /// Stops receiving, waits up to `timeout` for running handlers, kills the rest, closes the
  /// socket. Returns whether every handler finished on its own. Idempotent; a concurrent second
  /// call waits for the first, and takes over should the first be killed or time out (a
  /// gev::Timeout) before it finished. Called from a handler (which cannot wait for itself), it
  /// stops receiving at once, finishes the stop in a new greenlet and returns false.
  bool stop(std::optional<Duration> timeout = std::chrono::seconds(1));

  /// Sends one datagram (from the server's socket, so the peer sees the server's address).
  /// Parks while the socket's send buffer is full; several handlers may send at once. Returns
  /// the bytes sent. Throws std::system_error (EBADF once the server is stopped).
  std::size_t sendto(std::string_view data, const Address& to);
  /// Sends `size` bytes at `data` as one datagram to `to` (see the string_view overload).
  std::size_t sendto(const void* data, std::size_t size, const Address& to);

  /// The bound address (with the real port when 0 was asked for). Valid after start().
  const Address& address() const noexcept { return address_; }
  std::uint16_t port() const noexcept { return address_.port(); }  ///< address().port().
  bool started() const noexcept { return started_; }               ///< True once start() ran.
  bool closed() const noexcept { return stop_.stopped(); }         ///< True once a stop finished.
  const Options& options() const noexcept { return options_; }     ///< The server's settings.
  /// The server's socket, for options and introspection (do not read from it).
  Socket& socket() noexcept { return socket_; }

  /// Handlers running now.
  std::size_t handlers() const noexcept;
  /// Datagrams delivered to the handler.
  std::uint64_t received() const noexcept { return received_; }
  /// Datagrams dropped for exceeding max_datagram.
  std::uint64_t truncated() const noexcept { return truncated_; }
  /// Socket errors the server survived: ICMP errors (ECONNREFUSED and the like, reported to a
  /// connected socket or one with IP_RECVERR) met by the receive loop or skipped by sendto, and
  /// unexpected receive failures (those are also reported).
  std::uint64_t socket_errors() const noexcept { return socket_errors_; }

 private:
  void receive_loop();
  // Receives one datagram into buffer_ and returns its real length, or nullopt after an error
  // the loop survives (counted, reported if unexpected).
  std::optional<std::size_t> receive_one(Address& from, Duration& backoff);
  std::size_t drain_error_queue() noexcept;
  void run_handler(std::string_view data, const Address& from);
  // The server's part of a stop (detail::ServerStop runs the protocol): stop receiving, wait for
  // the handlers up to `timeout`, kill the rest, free the port; true if all finished.
  bool finish_stop(std::optional<Duration> timeout);
  std::string name() const;

  Address address_;
  Handler handler_;
  Options options_;
  Socket socket_;
  Pool pool_;
  Lock send_lock_;  // one sender parked on the socket at a time (Socket's one-waiter rule)
  std::vector<char> buffer_;
  std::shared_ptr<Greenlet<void>> receiver_;
  detail::ServerStop stop_{
      [this](std::optional<Duration> timeout) { return finish_stop(timeout); }};
  bool started_ = false;
  bool in_inline_handler_ = false;
  std::uint64_t received_ = 0;
  std::uint64_t truncated_ = 0;
  std::uint64_t socket_errors_ = 0;
};

}  // namespace gev::net
