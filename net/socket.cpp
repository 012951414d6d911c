#include "gev/net/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <string>

#include "gev/hub/errors.hpp"
#include "gev/hub/park_timer.hpp"
#include "gev/net/resolver.hpp"

namespace gev::net {
namespace {

using Clock = std::chrono::steady_clock;

std::string seconds_text(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(d.count()) * 1e-9);
  return buf;
}

int make_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno;
  return 0;
}

}  // namespace

Socket::Socket() noexcept {
  ev_io_init(&readers_.io, &Socket::on_ready, -1, EV_READ);
  ev_io_init(&writers_.io, &Socket::on_ready, -1, EV_WRITE);
}

Socket::Socket(int family, int type, int protocol) : Socket() {
  hub_ = &Hub::current();
  fd_ = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd_ < 0) fail(errno, "socket");
}

Socket Socket::adopt(int fd) {
  Socket s;
  s.hub_ = &Hub::current();
  s.fd_ = fd;
  if (int err = make_nonblocking(fd)) s.fail(err, "adopt (fcntl O_NONBLOCK)");
  return s;
}

Socket::Socket(Socket&& other) noexcept : Socket() {
  *this = std::move(other);
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this == &other) return *this;
  if (other.readers_.fiber || other.writers_.fiber) {
    std::fputs("gev::net::Socket moved while a greenlet is parked on it\n", stderr);
    std::terminate();
  }
  close();
  let_waiters_leave("assigned to");
  fd_ = std::exchange(other.fd_, -1);
  hub_ = other.hub_;
  timeout_ = other.timeout_;
  peer_ = other.peer_;
  return *this;
}

Socket::~Socket() {
  close();
  let_waiters_leave("destroyed");
}

void Socket::let_waiters_leave(const char* what) noexcept {
  // close() woke parked greenlets with EBADF, but each still runs the end of wait() on this
  // object: let them leave it before the memory goes or is reused (no exception may escape, so
  // a kill arriving meanwhile waits for this greenlet's next blocking point).
  for (int turn = 0; turn < 100 && (readers_.fiber || writers_.fiber); ++turn) {
    if (!hub_->yield_deferring_interrupts()) break;
  }
  if (readers_.fiber || writers_.fiber) {
    std::fprintf(stderr,
                 "gev::net::Socket %s while a greenlet is parked on it, where that greenlet "
                 "cannot be let go first (in a hub callback or another thread); close() it and "
                 "let the greenlet finish first\n",
                 what);
    std::terminate();
  }
}

void Socket::setblocking(bool blocking) noexcept {
  timeout_ = blocking ? std::nullopt : std::optional<Duration>(Duration::zero());
}

void Socket::check_open(const char* operation) const {
  if (fd_ < 0) fail(EBADF, operation);
  hub_->check_thread("gev::net::Socket");
}

void Socket::fail(int error, const char* operation) const {
  std::string what = std::string("gev::net: ") + operation;
  if (peer_.family() != AF_UNSPEC) what += " (peer " + peer_.to_string() + ")";
  throw std::system_error(error, std::generic_category(), what);
}

void Socket::on_ready(struct ev_loop*, ev_io* w, int revents) noexcept {
  auto* waiter = static_cast<Waiter*>(w->data);
  waiter->fired |= revents;
  Hub* hub = Hub::current_if_exists();
  if (hub && waiter->fiber) hub->unpark(*waiter->fiber);
}

void Socket::wait(Direction dir, const char* operation, std::optional<Duration> timeout) {
  Hub& hub = *hub_;
  Waiter& w = dir == Direction::read ? readers_ : writers_;
  if (w.fiber) {
    throw ConcurrentObjectUseError(
        std::string("gev::net::Socket: greenlet ") + w.fiber->fiber_name() +
        " is already waiting to " + (dir == Direction::read ? "read from" : "write to") + " fd " +
        std::to_string(fd_) + "; one waiter per direction (" + operation + ")");
  }
  if (timeout && timeout->count() <= 0) fail(EAGAIN, operation);  // non-blocking socket
  w.fiber = &hub.current_fiber();
  w.fired = 0;
  // ev_io_set only when the descriptor changed: it flags the fd for an epoll_ctl on the next
  // loop turn, whereas a stop/start with the same fd and events costs no system call.
  if (w.io.fd != fd_) ev_io_set(&w.io, fd_, dir == Direction::read ? EV_READ : EV_WRITE);
  w.io.data = &w;
  ev_io_start(hub.loop(), &w.io);
  struct Stop {
    Hub& hub;
    Waiter& w;
    ~Stop() {
      ev_io_stop(hub.loop(), &w.io);
      w.fiber = nullptr;
    }
  } stop{hub, w};
  ParkTimer timer(hub, *w.fiber, timeout);
  while (!w.fired && fd_ >= 0) {
    if (timer.expired()) {
      throw net::timeout(std::string("gev::net: ") + operation + " timed out after " +
                         seconds_text(*timeout) +
                         (peer_.family() != AF_UNSPEC ? " (peer " + peer_.to_string() + ")" : ""));
    }
    hub.park(operation);
  }
  if (fd_ < 0) fail(EBADF, operation);  // closed by another greenlet while we waited
}

void Socket::bind(const Address& address) {
  check_open("bind");
  if (::bind(fd_, address.sockaddr_ptr(), address.length()) != 0) {
    std::string op = "bind to " + address.to_string();
    fail(errno, op.c_str());
  }
}

void Socket::listen(int backlog) {
  check_open("listen");
  if (::listen(fd_, backlog) != 0) fail(errno, "listen");
}

void Socket::connect(const Address& address) {
  check_open("connect");
  const std::string op = "connect to " + address.to_string();
  // EINTR leaves the connection in progress, like EINPROGRESS: wait for it, then read SO_ERROR.
  if (::connect(fd_, address.sockaddr_ptr(), address.length()) == 0) {
    peer_ = address;
    return;
  }
  if (errno != EINPROGRESS && errno != EINTR) fail(errno, op.c_str());
  wait(Direction::write, op.c_str(), timeout_);
  if (int err = pending_error()) fail(err, op.c_str());
  peer_ = address;
}

Socket Socket::accept(Address* peer) {
  check_open("accept");
  for (;;) {
    Address from;
    socklen_t len = sizeof(sockaddr_storage);
    int fd = ::accept4(fd_, from.sockaddr_ptr(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      from.set_length(len);
      Socket s;
      s.hub_ = hub_;
      s.fd_ = fd;
      s.peer_ = from;
      if (peer) *peer = from;
      return s;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(Direction::read, "accept", timeout_);
      continue;
    }
    fail(errno, "accept");
  }
}

std::size_t Socket::recv(void* buffer, std::size_t size, int flags) {
  check_open("recv");
  for (;;) {
    ssize_t n = ::recv(fd_, buffer, size, flags);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(Direction::read, "recv", timeout_);
      continue;
    }
    fail(errno, "recv");
  }
}

std::string Socket::recv(std::size_t max_bytes) {
  std::string out(max_bytes, '\0');
  out.resize(recv(out.data(), out.size()));
  return out;
}

std::size_t Socket::recvfrom(void* buffer, std::size_t size, Address& from, int flags) {
  check_open("recvfrom");
  for (;;) {
    socklen_t len = sizeof(sockaddr_storage);
    ssize_t n = ::recvfrom(fd_, buffer, size, flags, from.sockaddr_ptr(), &len);
    if (n >= 0) {
      from.set_length(len);
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(Direction::read, "recvfrom", timeout_);
      continue;
    }
    fail(errno, "recvfrom");
  }
}

std::size_t Socket::send(const void* data, std::size_t size, int flags) {
  check_open("send");
  for (;;) {
    ssize_t n = ::send(fd_, data, size, flags | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(Direction::write, "send", timeout_);
      continue;
    }
    fail(errno, "send");
  }
}

void Socket::sendall(const void* data, std::size_t size, int flags) {
  check_open("sendall");
  const auto* p = static_cast<const char*>(data);
  std::optional<Clock::time_point> deadline;
  if (timeout_ && timeout_->count() > 0) {
    deadline = deadline_after(*timeout_);
  }
  while (size > 0) {
    ssize_t n = ::send(fd_, p, size, flags | MSG_NOSIGNAL);
    if (n >= 0) {
      p += n;
      size -= static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail(errno, "sendall");
    std::optional<Duration> left = timeout_;
    if (deadline) {
      left = std::chrono::duration_cast<Duration>(*deadline - Clock::now());
      if (left->count() <= 0) {
        throw net::timeout("gev::net: sendall timed out after " + seconds_text(*timeout_) +
                           " with " + std::to_string(size) + " bytes unsent");
      }
    }
    wait(Direction::write, "sendall", left);
  }
}

std::size_t Socket::sendto(const void* data, std::size_t size, const Address& to, int flags) {
  check_open("sendto");
  for (;;) {
    ssize_t n = ::sendto(fd_, data, size, flags | MSG_NOSIGNAL, to.sockaddr_ptr(), to.length());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(Direction::write, "sendto", timeout_);
      continue;
    }
    std::string op = "sendto " + to.to_string();
    fail(errno, op.c_str());
  }
}

namespace {

// sendfile(2) has no MSG_NOSIGNAL: on a socket whose peer has gone it raises SIGPIPE, which by
// default kills the process (Python, and so gevent, and Go ignore SIGPIPE; a C++ program does
// not). So SIGPIPE is blocked in this thread for the call, and one the call raised is taken back
// before the mask is restored: the caller sees EPIPE, as with send(MSG_NOSIGNAL).
ssize_t sendfile_without_sigpipe(int out_fd, int in_fd, off_t* offset, std::size_t count) {
  sigset_t sigpipe_only;
  sigset_t old;
  sigemptyset(&sigpipe_only);
  sigaddset(&sigpipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe_only, &old);
  const ssize_t n = ::sendfile(out_fd, in_fd, offset, count);
  const int saved_errno = errno;
  if (n < 0 && saved_errno == EPIPE && !sigismember(&old, SIGPIPE)) {
    const timespec no_wait{0, 0};
    while (sigtimedwait(&sigpipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved_errno;
  return n;
}

}  // namespace

std::size_t Socket::sendfile(int file_fd, off_t offset, std::optional<std::size_t> count) {
  check_open("sendfile");
  std::optional<Clock::time_point> deadline;
  if (timeout_ && timeout_->count() > 0) {
    deadline = deadline_after(*timeout_);
  }
  std::size_t sent = 0;
  // sendfile(2) moves at most 0x7ffff000 bytes per call.
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  while (!count || sent < *count) {
    const std::size_t want = count ? std::min(*count - sent, kChunk) : kChunk;
    ssize_t n = sendfile_without_sigpipe(fd_, file_fd, &offset, want);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) break;  // end of the file
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail(errno, "sendfile");
    std::optional<Duration> left = timeout_;
    if (deadline) {
      left = std::chrono::duration_cast<Duration>(*deadline - Clock::now());
      if (left->count() <= 0) {
        throw net::timeout("gev::net: sendfile timed out after " + seconds_text(*timeout_) +
                           " with " + std::to_string(sent) + " bytes sent");
      }
    }
    wait(Direction::write, "sendfile", left);
  }
  return sent;
}

std::size_t Socket::transfer_some(iovec* iov, int count, bool write,
                                  boost::system::error_code& ec) {
  ec = {};
  if (count == 0) return 0;  // Asio: an empty buffer sequence transfers nothing, successfully
  const char* operation = write ? "write_some" : "read_some";
  try {
    check_open(operation);
    for (;;) {
      ssize_t n;
      if (write) {
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<std::size_t>(count);
        n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      } else {
        n = ::readv(fd_, iov, count);
      }
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec.assign(errno, boost::system::system_category());
        return 0;
      }
      wait(write ? Direction::write : Direction::read, operation, timeout_);
    }
  } catch (const net::timeout&) {
    ec = boost::asio::error::timed_out;
  } catch (const std::system_error& e) {
    ec.assign(e.code().value(), boost::system::system_category());
  }
  // Anything else (a kill, gev::Timeout, ConcurrentObjectUseError) is not an I/O result and
  // propagates.
  return 0;
}

void Socket::shutdown(int how) {
  check_open("shutdown");
  if (::shutdown(fd_, how) != 0) fail(errno, "shutdown");
}

void Socket::close() noexcept {
  if (fd_ < 0) return;
  // Wake whoever is parked here; they see the socket closed and throw EBADF.
  for (Waiter* w : {&readers_, &writers_}) {
    if (w->fiber && hub_) {
      ev_io_stop(hub_->loop(), &w->io);
      hub_->unpark(*w->fiber);
    }
  }
  ::close(fd_);
  fd_ = -1;
  forget_descriptor();
}

void Socket::forget_descriptor() noexcept {
  // The number may come back for another descriptor: make the next wait() re-register it.
  ev_io_set(&readers_.io, -1, EV_READ);
  ev_io_set(&writers_.io, -1, EV_WRITE);
}

int Socket::release() noexcept {
  if (readers_.fiber || writers_.fiber) return -1;
  forget_descriptor();
  return std::exchange(fd_, -1);
}

Address Socket::local_address() const {
  check_open("getsockname");
  Address a;
  socklen_t len = sizeof(sockaddr_storage);
  if (::getsockname(fd_, a.sockaddr_ptr(), &len) != 0) fail(errno, "getsockname");
  a.set_length(len);
  return a;
}

Address Socket::peer_address() const {
  check_open("getpeername");
  Address a;
  socklen_t len = sizeof(sockaddr_storage);
  if (::getpeername(fd_, a.sockaddr_ptr(), &len) != 0) fail(errno, "getpeername");
  a.set_length(len);
  return a;
}

void Socket::setsockopt(int level, int name, const void* value, socklen_t length) {
  check_open("setsockopt");
  if (::setsockopt(fd_, level, name, value, length) != 0) fail(errno, "setsockopt");
}

int Socket::getsockopt_int(int level, int name) const {
  check_open("getsockopt");
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd_, level, name, &value, &len) != 0) fail(errno, "getsockopt");
  return value;
}

std::pair<Socket, Socket> socketpair(int family, int type) {
  int fds[2];
  if (::socketpair(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::system_error(errno, std::generic_category(), "gev::net: socketpair");
  }
  return {Socket::adopt(fds[0]), Socket::adopt(fds[1])};
}

Socket create_connection(std::string_view host, std::uint16_t port, std::optional<Duration> timeout,
                         std::optional<Address> source_address) {
  std::exception_ptr last;
  for (const Address& address : resolve(host, port, AF_UNSPEC, SOCK_STREAM)) {
    try {
      Socket s(address.family(), SOCK_STREAM);
      s.settimeout(timeout);
      if (source_address) s.bind(*source_address);
      s.connect(address);
      s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
      return s;
    } catch (const std::system_error&) {
      last = std::current_exception();
    }
  }
  if (last) std::rethrow_exception(last);
  throw gaierror(EAI_NONAME, "gev::net::create_connection: no address for " + std::string(host));
}

}  // namespace gev::net
