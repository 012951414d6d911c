/// @file
/// Socket: blocking-style, cooperative sockets (gevent.socket). Every call tries the system call
/// first and parks the calling greenlet only when it would block, so other greenlets run
/// meanwhile. TCP, UDP and Unix-domain; IPv4 and IPv6.
///
/// @code
/// auto s = gev::net::create_connection("127.0.0.1", 8000, 5s);
/// s.sendall("ping\n");
/// char buf[64];
/// std::size_t n = s.recv(buf, sizeof buf);   // 0 at end of stream
/// @endcode
///
/// Timeouts follow gevent's settimeout(): std::nullopt (the default) blocks as long as needed,
/// a positive duration bounds each operation (sendall: one deadline for the whole buffer) and
/// throws gev::net::timeout, zero makes operations non-blocking (they throw
/// std::system_error(EAGAIN) instead of parking).
///
/// One waiter per direction: a second greenlet reading (or writing) while another is parked on
/// the same socket gets gev::ConcurrentObjectUseError. close() from another greenlet wakes a
/// parked one with std::system_error(EBADF). A kill or a gev::Timeout while parked unwinds
/// normally and leaves the socket usable. Errors are std::system_error whose message names the
/// operation and the peer ("connect to 127.0.0.1:9: Connection refused").
///
/// A Socket belongs to the hub of the thread that created it. It owns its descriptor (closed by
/// the destructor) and can be moved while no greenlet is parked on it.
#pragma once

#include <ev.h>
#include <sys/socket.h>

#include <sys/types.h>
#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "gev/hub/hub.hpp"
#include "gev/net/address.hpp"

namespace gev::net {

/// gevent's socket.timeout: an operation's timeout passed (errno ETIMEDOUT). Unlike gev::Timeout
/// it is an ordinary error, a std::system_error.
class timeout : public std::system_error {
 public:
  /// A timeout error (std::errc::timed_out) with the message `what`.
  explicit timeout(const std::string& what)
      : std::system_error(std::make_error_code(std::errc::timed_out), what) {}
};

/// A blocking-style, cooperative socket (gevent.socket): calls park the calling greenlet only
/// when they would block. Owns its descriptor; belongs to the hub of the thread that created it.
/// Move-only.
class Socket {
 public:
  Socket() noexcept;  ///< No descriptor.
  /// A new non-blocking socket (socket(2) with the same arguments), owned by the current hub.
  /// Throws std::system_error if socket(2) fails.
  Socket(int family, int type, int protocol = 0);
  /// Takes ownership of `fd` and makes it non-blocking at the OS level.
  static Socket adopt(int fd);

  /// Takes over `other`'s descriptor and timeout, leaving `other` without a descriptor. `other`
  /// must have no greenlet parked on it (std::terminate()).
  Socket(Socket&& other) noexcept;
  /// Closes this socket (its parked greenlets wake with EBADF), then takes over `other`'s
  /// descriptor and timeout. `other` must have no greenlet parked on it (std::terminate()).
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();  ///< Closes the descriptor.

  // ---- timeouts ------------------------------------------------------------------------------
  /// Sets the timeout of later operations: nullopt blocks as long as needed, a positive
  /// duration bounds each operation (net::timeout), zero makes them non-blocking (EAGAIN).
  void settimeout(std::optional<Duration> timeout) noexcept { timeout_ = timeout; }
  /// The timeout set by settimeout() (nullopt by default: blocking).
  std::optional<Duration> gettimeout() const noexcept { return timeout_; }
  /// setblocking(true) == settimeout(nullopt); setblocking(false) == settimeout(0s).
  void setblocking(bool blocking) noexcept;

  // ---- connection set-up ---------------------------------------------------------------------
  /// Binds the socket to `address`; throws std::system_error naming the address.
  void bind(const Address& address);
  /// Starts listening for connections (listen(2)).
  void listen(int backlog = SOMAXCONN);
  /// Parks until connected; throws std::system_error (refused, unreachable...) or net::timeout.
  void connect(const Address& address);
  /// Parks until a connection arrives and returns it; stores the peer's address in `*peer`
  /// when given. The new socket inherits no timeout (blocking).
  Socket accept(Address* peer = nullptr);

  // ---- data ----------------------------------------------------------------------------------
  /// Reads up to `size` bytes into `buffer`, parking until some arrive. Returns the bytes
  /// read; 0 means the peer closed its side.
  std::size_t recv(void* buffer, std::size_t size, int flags = 0);
  /// recv() into a span.
  std::size_t recv_into(std::span<char> buffer, int flags = 0) {
    return recv(buffer.data(), buffer.size(), flags);
  }
  /// gevent's recv(bufsize): up to max_bytes as a string; empty at end of stream.
  std::string recv(std::size_t max_bytes);
  /// Receives one datagram (up to `size` bytes) and stores its sender in `from`. Returns the
  /// bytes read.
  std::size_t recvfrom(void* buffer, std::size_t size, Address& from, int flags = 0);
  /// Sends what the socket takes now, parking until it takes something. Returns the bytes sent
  /// (maybe fewer than size).
  std::size_t send(const void* data, std::size_t size, int flags = 0);
  /// Sends everything, parking as needed; one deadline (the timeout) for the whole buffer.
  void sendall(const void* data, std::size_t size, int flags = 0);
  /// Sends everything, parking as needed; one deadline (the timeout) for the whole buffer.
  void sendall(std::string_view data, int flags = 0) { sendall(data.data(), data.size(), flags); }
  /// Sends one datagram to `to`, parking while the socket is full. Returns the bytes sent.
  std::size_t sendto(const void* data, std::size_t size, const Address& to, int flags = 0);
  /// Sends `count` bytes of the file `file_fd` from `offset` (nullopt: to the end of the file)
  /// with sendfile(2), parking while the socket is full; one deadline (the timeout) for all of
  /// it, like sendall. Returns the bytes sent (fewer than count only if the file ends first).
  /// The file's own offset is not used or changed.
  std::size_t sendfile(int file_fd, off_t offset = 0,
                       std::optional<std::size_t> count = std::nullopt);

  // ---- Boost.Beast / Asio stream model (SyncReadStream, SyncWriteStream) ----------------------
  /// @name Boost.Beast / Asio stream model (SyncReadStream, SyncWriteStream)
  /// read_some/write_some over buffer sequences, so beast::http::read/write and
  /// boost::asio::read/write run cooperatively on a gev socket. End of stream is
  /// boost::asio::error::eof, a timeout boost::asio::error::timed_out; the throwing overloads
  /// throw boost::system::system_error.
  /// @{

  /// Reads what is available into `buffers` (parking until something is); errors go to `ec`.
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    iovec iov[kMaxIov];
    return transfer_some(iov, gather(buffers, iov), /*write=*/false, ec);
  }
  /// Reads what is available into `buffers`; throws boost::system::system_error.
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec, "gev::net::Socket::read_some");
    return n;
  }
  /// Writes what the socket takes from `buffers` (parking until it takes something); errors go
  /// to `ec`.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    iovec iov[kMaxIov];
    return transfer_some(iov, gather(buffers, iov), /*write=*/true, ec);
  }
  /// Writes what the socket takes from `buffers`; throws boost::system::system_error.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec, "gev::net::Socket::write_some");
    return n;
  }
  /// @}

  // ---- teardown ------------------------------------------------------------------------------
  /// Shuts down one or both directions (shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR).
  void shutdown(int how = SHUT_WR);
  /// Closes the descriptor; a greenlet parked on this socket wakes with EBADF. Idempotent.
  void close() noexcept;
  /// Gives up ownership without closing: returns the descriptor, leaving the socket without
  /// one. Returns -1 (and keeps the descriptor) while a greenlet is parked on the socket.
  int release() noexcept;

  // ---- introspection and options -------------------------------------------------------------
  int fileno() const noexcept { return fd_; }         ///< The descriptor; -1 when closed.
  bool is_open() const noexcept { return fd_ >= 0; }  ///< True while the socket has a descriptor.
  explicit operator bool() const noexcept { return is_open(); }  ///< is_open().
  Address local_address() const;  ///< The address the socket is bound to (getsockname(2)).
  Address peer_address() const;   ///< The address of the connected peer (getpeername(2)).
  /// Sets a socket option (setsockopt(2)); throws std::system_error.
  void setsockopt(int level, int name, const void* value, socklen_t length);
  /// Sets an int-valued socket option (SO_REUSEADDR, TCP_NODELAY...).
  void setsockopt(int level, int name, int value) { setsockopt(level, name, &value, sizeof value); }
  /// Reads an int-valued socket option (getsockopt(2)); throws std::system_error.
  int getsockopt_int(int level, int name) const;
  /// SO_ERROR, cleared by reading it.
  int pending_error() const { return getsockopt_int(SOL_SOCKET, SO_ERROR); }

  // ---- readiness (gevent.socket.wait_read / wait_write) ---------------------------------------
  /// Park until the descriptor is readable / writable, for layers that do their own I/O on
  /// fileno() (TLS, c-ares). `timeout` bounds the wait (nullopt: forever, zero: throw EAGAIN
  /// at once); on expiry throws net::timeout naming `operation`. Same errors as recv/send:
  /// EBADF if closed meanwhile, ConcurrentObjectUseError for a second waiter.
  void wait_readable(const char* operation, std::optional<Duration> timeout) {
    wait(Direction::read, operation, timeout);
  }
  /// Parks until the descriptor is writable; as wait_readable().
  void wait_writable(const char* operation, std::optional<Duration> timeout) {
    wait(Direction::write, operation, timeout);
  }

 private:
  // One direction's parked greenlet and its watcher (started only while parked).
  struct Waiter {
    ev_io io;
    gev::detail::Fiber* fiber = nullptr;
    int fired = 0;
  };
  enum class Direction { read, write };

  // Parks until the descriptor is ready in `dir` or `deadline` passes. Throws net::timeout (or
  // EAGAIN for a non-blocking socket), EBADF if closed meanwhile, ConcurrentObjectUseError.
  void wait(Direction dir, const char* operation, std::optional<Duration> timeout);

  static constexpr int kMaxIov = 16;
  template <class BufferSequence>
  static int gather(const BufferSequence& buffers, iovec* iov) {
    int n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && n < kMaxIov; ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      iov[n].iov_base = const_cast<void*>(b.data());
      iov[n].iov_len = b.size();
      ++n;
    }
    return n;
  }
  // One readv/sendmsg (parking on EAGAIN); I/O errors and end of stream as error codes; kills
  // and gev::Timeout propagate.
  std::size_t transfer_some(iovec* iov, int count, bool write, boost::system::error_code& ec);
  [[noreturn]] void fail(int error, const char* operation) const;
  void check_open(const char* operation) const;
  static void on_ready(struct ev_loop*, ev_io* w, int revents) noexcept;
  void forget_descriptor() noexcept;
  void let_waiters_leave(const char* what) noexcept;

  int fd_ = -1;
  Hub* hub_ = nullptr;
  std::optional<Duration> timeout_;
  Waiter readers_;
  Waiter writers_;
  Address peer_;  // for error messages, once known
};

/// A connected pair (AF_UNIX by default), both cooperative.
std::pair<Socket, Socket> socketpair(int family = AF_UNIX, int type = SOCK_STREAM);

/// Resolves `host` (numeric hosts never touch a resolver) and tries each address in turn until
/// one connects; `timeout` bounds each attempt and becomes the socket's timeout. Each attempt's
/// socket is first bound to `source_address` when given. The socket has TCP_NODELAY set, as
/// Go's Dial does (turn it off with setsockopt). Throws the last attempt's error, or
/// net::timeout (gaierror if the lookup fails).
Socket create_connection(std::string_view host, std::uint16_t port,
                         std::optional<Duration> timeout = std::nullopt,
                         std::optional<Address> source_address = std::nullopt);

}  // namespace gev::net
