// Socket: blocking-style, cooperative sockets (gevent.socket). Every call tries the system call
// first and parks the calling greenlet only when it would block, so other greenlets run
// meanwhile. TCP, UDP and Unix-domain; IPv4 and IPv6.
//
//   auto s = gev::net::create_connection("127.0.0.1", 8000, 5s);
//   s.sendall("ping\n");
//   char buf[64];
//   std::size_t n = s.recv(buf, sizeof buf);   // 0 at end of stream
//
// Timeouts follow gevent's settimeout(): std::nullopt (the default) blocks as long as needed,
// a positive duration bounds each operation (sendall: one deadline for the whole buffer) and
// throws gev::net::timeout, zero makes operations non-blocking (they throw
// std::system_error(EAGAIN) instead of parking).
//
// One waiter per direction: a second greenlet reading (or writing) while another is parked on
// the same socket gets gev::ConcurrentObjectUseError. close() from another greenlet wakes a
// parked one with std::system_error(EBADF). A kill or a gev::Timeout while parked unwinds
// normally and leaves the socket usable. Errors are std::system_error whose message names the
// operation and the peer ("connect to 127.0.0.1:9: Connection refused").
//
// A Socket belongs to the hub of the thread that created it. It owns its descriptor (closed by
// the destructor) and can be moved while no greenlet is parked on it.
#pragma once

#include <ev.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "gev/hub/hub.hpp"
#include "gev/net/address.hpp"

namespace gev::net {

// gevent's socket.timeout: an operation's timeout passed (errno ETIMEDOUT). Unlike gev::Timeout
// it is an ordinary error, a std::system_error.
class timeout : public std::system_error {
 public:
  explicit timeout(const std::string& what)
      : std::system_error(std::make_error_code(std::errc::timed_out), what) {}
};

class Socket {
 public:
  Socket() noexcept;  // no descriptor
  Socket(int family, int type, int protocol = 0);
  // Takes ownership of `fd` and makes it non-blocking at the OS level.
  static Socket adopt(int fd);

  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  // ---- timeouts ------------------------------------------------------------------------------
  void settimeout(std::optional<Duration> timeout) noexcept { timeout_ = timeout; }
  std::optional<Duration> gettimeout() const noexcept { return timeout_; }
  // setblocking(true) == settimeout(nullopt); setblocking(false) == settimeout(0s).
  void setblocking(bool blocking) noexcept;

  // ---- connection set-up ---------------------------------------------------------------------
  void bind(const Address& address);
  void listen(int backlog = SOMAXCONN);
  // Parks until connected; throws std::system_error (refused, unreachable...) or net::timeout.
  void connect(const Address& address);
  // Parks until a connection arrives. The new socket inherits no timeout (blocking).
  Socket accept(Address* peer = nullptr);

  // ---- data ----------------------------------------------------------------------------------
  // Returns the bytes read; 0 means the peer closed its side.
  std::size_t recv(void* buffer, std::size_t size, int flags = 0);
  std::size_t recvfrom(void* buffer, std::size_t size, Address& from, int flags = 0);
  // Returns the bytes sent (maybe fewer than size).
  std::size_t send(const void* data, std::size_t size, int flags = 0);
  // Sends everything, parking as needed; one deadline (the timeout) for the whole buffer.
  void sendall(const void* data, std::size_t size, int flags = 0);
  void sendall(std::string_view data, int flags = 0) { sendall(data.data(), data.size(), flags); }
  std::size_t sendto(const void* data, std::size_t size, const Address& to, int flags = 0);

  // ---- teardown ------------------------------------------------------------------------------
  void shutdown(int how = SHUT_WR);
  // Closes the descriptor; a greenlet parked on this socket wakes with EBADF. Idempotent.
  void close() noexcept;
  // Gives up ownership without closing.
  int release() noexcept;

  // ---- introspection and options -------------------------------------------------------------
  int fileno() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return is_open(); }
  Address local_address() const;
  Address peer_address() const;
  void setsockopt(int level, int name, const void* value, socklen_t length);
  void setsockopt(int level, int name, int value) { setsockopt(level, name, &value, sizeof value); }
  int getsockopt_int(int level, int name) const;
  // SO_ERROR, cleared by reading it.
  int pending_error() const { return getsockopt_int(SOL_SOCKET, SO_ERROR); }

  // ---- readiness (gevent.socket.wait_read / wait_write) ---------------------------------------
  // Park until the descriptor is readable / writable, for layers that do their own I/O on
  // fileno() (TLS, c-ares). `timeout` bounds the wait (nullopt: forever, zero: throw EAGAIN
  // at once); on expiry throws net::timeout naming `operation`. Same errors as recv/send:
  // EBADF if closed meanwhile, ConcurrentObjectUseError for a second waiter.
  void wait_readable(const char* operation, std::optional<Duration> timeout) {
    wait(Direction::read, operation, timeout);
  }
  void wait_writable(const char* operation, std::optional<Duration> timeout) {
    wait(Direction::write, operation, timeout);
  }

 private:
  // One direction's parked greenlet and its watcher (started only while parked).
  struct Waiter {
    ev_io io;
    detail::Fiber* fiber = nullptr;
    int fired = 0;
  };
  enum class Direction { read, write };

  // Parks until the descriptor is ready in `dir` or `deadline` passes. Throws net::timeout (or
  // EAGAIN for a non-blocking socket), EBADF if closed meanwhile, ConcurrentObjectUseError.
  void wait(Direction dir, const char* operation, std::optional<Duration> timeout);
  [[noreturn]] void fail(int error, const char* operation) const;
  void check_open(const char* operation) const;
  static void on_ready(struct ev_loop*, ev_io* w, int revents) noexcept;

  int fd_ = -1;
  Hub* hub_ = nullptr;
  std::optional<Duration> timeout_;
  Waiter readers_;
  Waiter writers_;
  Address peer_;  // for error messages, once known
};

// A connected pair (AF_UNIX by default), both cooperative.
std::pair<Socket, Socket> socketpair(int family = AF_UNIX, int type = SOCK_STREAM);

// Resolves `host` (numeric hosts never touch a resolver) and tries each address in turn until
// one connects; `timeout` bounds each attempt and becomes the socket's timeout. Throws the
// last attempt's error, or net::timeout.
Socket create_connection(std::string_view host, std::uint16_t port,
                         std::optional<Duration> timeout = std::nullopt,
                         std::optional<Address> source_address = std::nullopt);

}  // namespace gev::net
