// The descriptor hooks: read/write and the socket calls, connect, accept, close, dup2/dup3.
//
// Blocking semantics without touching the descriptor's flags: a socket is tried with
// MSG_DONTWAIT (read/write/readv/writev become recv/send/recvmsg/sendmsg, which behave the same
// on a socket), and only when that would block does the hook ask the kernel what the program
// wants: O_NONBLOCK set by the program -> EAGAIN as usual; otherwise park until ready, bounded
// by SO_RCVTIMEO/SO_SNDTIMEO (then EAGAIN). A write parks until everything is written, as a
// blocking write does. Descriptors that are not sockets (pipes, terminals) are polled first and
// the libc call made once they are ready. connect and accept, which have no per-call
// non-blocking flag, set O_NONBLOCK around the one system call and restore it at once.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "gev/monkey/detail/fd_wait.hpp"
#include "gev/monkey/detail/original.hpp"
#include "gev/monkey/detail/probe.hpp"
#include "gev/runtime/sleep.hpp"

extern "C" {
ssize_t __read_chk(int fd, void* buffer, size_t count, size_t buffer_length);
ssize_t __recv_chk(int fd, void* buffer, size_t count, size_t buffer_length, int flags);
ssize_t __recvfrom_chk(int fd, void* buffer, size_t count, size_t buffer_length, int flags,
                       sockaddr* from, socklen_t* from_length);
}

namespace gev::monkey::detail {
namespace {

using std::chrono::nanoseconds;

bool would_block(ssize_t r) noexcept {
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// The program's own O_NONBLOCK (gev never sets it for longer than one connect/accept call).
bool user_nonblocking(int fd) noexcept {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

// SO_RCVTIMEO / SO_SNDTIMEO as the program set them (none: nullopt).
Deadline option_deadline(int fd, int option) noexcept {
  timeval tv{};
  socklen_t len = sizeof tv;
  if (::getsockopt(fd, SOL_SOCKET, option, &tv, &len) != 0) return std::nullopt;
  if (tv.tv_sec == 0 && tv.tv_usec == 0) return std::nullopt;
  return deadline_in(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
}

// Parks for `events` on fd; false (errno set: EAGAIN on timeout, EBADF when closed) if the wait
// did not end with the descriptor ready.
bool park_until_ready(Hub& hub, int fd, int events, const Deadline& deadline) {
  switch (wait_fd(hub, fd, events, deadline)) {
    case WaitResult::ready:
      return true;
    case WaitResult::timed_out:
      errno = EAGAIN;
      return false;
    case WaitResult::closed:
      errno = EBADF;
      return false;
  }
  return false;
}

// A single-shot socket operation (receive, or a datagram send): `first` is the result of the
// first MSG_DONTWAIT attempt; attempt() repeats it.
template <class Attempt>
ssize_t retry_single(Hub& hub, int fd, int events, int timeout_option, ssize_t first,
                     Attempt&& attempt) {
  if (!would_block(first)) return first;
  if (user_nonblocking(fd)) {
    errno = EAGAIN;
    return -1;
  }
  const Deadline deadline = option_deadline(fd, timeout_option);
  for (;;) {
    if (!park_until_ready(hub, fd, events, deadline)) return -1;
    const ssize_t r = attempt();
    if (!would_block(r)) return r;
  }
}

// A descriptor that is not a socket: wait until poll() says ready, then make the libc call.
template <class Call>
ssize_t when_ready(Hub& hub, int fd, short poll_events, int ev_events, Call&& call) {
  pollfd p{fd, poll_events, 0};
  if (GEV_REAL(poll)(&p, 1, 0) != 0 || user_nonblocking(fd)) return call();
  for (;;) {
    if (!park_until_ready(hub, fd, ev_events, std::nullopt)) return -1;
    p.revents = 0;
    if (GEV_REAL(poll)(&p, 1, 0) != 0) return call();
  }
}

bool is_stream_socket(int fd) noexcept {
  int type = 0;
  socklen_t len = sizeof type;
  return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

// dup2/dup3 close `target` only when they succeed: wake its waiters only if they will.
bool dup_will_replace(int fd, int target) noexcept {
  return fd != target && fd >= 0 && target >= 0 && ::fcntl(fd, F_GETFD) != -1;
}

// Receives into one buffer: recv semantics, MSG_WAITALL included (loops until `count`, EOF,
// an error or the timeout; what arrived before an error or timeout is returned).
ssize_t receive(Hub& hub, int fd, void* buffer, size_t count, int flags, sockaddr* from,
                socklen_t* from_length) {
  auto attempt = [&](size_t offset) {
    return GEV_REAL(recvfrom)(fd, static_cast<char*>(buffer) + offset, count - offset,
                              (flags & ~MSG_WAITALL) | MSG_DONTWAIT, from, from_length);
  };
  const ssize_t first = attempt(0);
  if (first < 0 && errno == ENOTSOCK) return -2;  // the caller takes the non-socket path
  // The loop below is for a stream socket: MSG_WAITALL on datagrams is one datagram, and a
  // MSG_PEEK would only see the same bytes again (readiness stays on), so both are one call.
  if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK) || first == 0 || count == 0 ||
      !is_stream_socket(fd)) {
    return retry_single(hub, fd, EV_READ, SO_RCVTIMEO, first, [&] { return attempt(0); });
  }
  size_t got = 0;
  ssize_t r = first;
  Deadline deadline;
  bool checked_mode = false;  // O_NONBLOCK and SO_RCVTIMEO asked once, at the first EAGAIN
  for (;;) {
    if (r > 0) {
      got += static_cast<size_t>(r);
      if (got == count) return static_cast<ssize_t>(got);
    } else if (r == 0) {
      return static_cast<ssize_t>(got);
    } else if (!would_block(r)) {
      return got > 0 ? static_cast<ssize_t>(got) : r;
    } else {
      if (!checked_mode) {
        if (user_nonblocking(fd)) {  // a non-blocking MSG_WAITALL returns what there is
          if (got > 0) return static_cast<ssize_t>(got);
          errno = EAGAIN;
          return -1;
        }
        deadline = option_deadline(fd, SO_RCVTIMEO);
        checked_mode = true;
      }
      if (!park_until_ready(hub, fd, EV_READ, deadline)) {
        return got > 0 ? static_cast<ssize_t>(got) : -1;
      }
    }
    r = attempt(got);
  }
}

// Sends all of msg (blocking semantics): loops over partial sends, parking while the socket is
// full, until everything is sent, an error, or SO_SNDTIMEO (what was sent is returned then).
// Ancillary data goes with the first send that carries bytes. -2: not a socket.
ssize_t send_all(Hub& hub, int fd, const msghdr& msg, int flags) {
  size_t total = 0;
  for (size_t i = 0; i < msg.msg_iovlen; ++i) total += msg.msg_iov[i].iov_len;
  const int send_flags = flags | MSG_DONTWAIT;
  ssize_t r = GEV_REAL(sendmsg)(fd, &msg, send_flags);
  if (r < 0 && errno == ENOTSOCK) return -2;
  if (r >= 0 && static_cast<size_t>(r) == total) return r;
  if (r < 0 && !would_block(r)) return r;
  if (user_nonblocking(fd)) {  // what fitted, or EAGAIN: non-blocking semantics
    if (r < 0) errno = EAGAIN;
    return r;
  }
  const Deadline deadline = option_deadline(fd, SO_SNDTIMEO);
  size_t sent = r > 0 ? static_cast<size_t>(r) : 0;
  for (;;) {
    if (r < 0) {
      if (!would_block(r)) return sent > 0 ? static_cast<ssize_t>(sent) : r;
      if (!park_until_ready(hub, fd, EV_WRITE, deadline)) {
        return sent > 0 ? static_cast<ssize_t>(sent) : -1;
      }
    }
    // The rest, as at most kChunk iovecs starting at byte `sent`.
    constexpr size_t kChunk = 64;
    iovec rest[kChunk];
    size_t n = 0;
    size_t skip = sent;
    for (size_t i = 0; i < msg.msg_iovlen && n < kChunk; ++i) {
      const iovec& v = msg.msg_iov[i];
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        continue;
      }
      rest[n++] = iovec{static_cast<char*>(v.iov_base) + skip, v.iov_len - skip};
      skip = 0;
    }
    msghdr next = msg;
    next.msg_iov = rest;
    next.msg_iovlen = n;
    if (sent > 0) {
      next.msg_control = nullptr;  // went with the first bytes
      next.msg_controllen = 0;
    }
    r = GEV_REAL(sendmsg)(fd, &next, send_flags);
    if (r > 0) {
      sent += static_cast<size_t>(r);
      if (sent == total) return static_cast<ssize_t>(sent);
    }
  }
}

ssize_t send_buffer(Hub& hub, int fd, const void* buffer, size_t count, int flags,
                    const sockaddr* to, socklen_t to_length) {
  iovec v{const_cast<void*>(buffer), count};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to);
  msg.msg_namelen = to_length;
  msg.msg_iov = &v;
  msg.msg_iovlen = 1;
  return send_all(hub, fd, msg, flags);
}

// Linux's unix-socket connect to a full backlog fails with EAGAIN when non-blocking and has no
// readiness event for "backlog has room": retry with a short back-off, bounded by SO_SNDTIMEO.
int connect_unix_backlog(Hub& hub, int fd, const sockaddr* address, socklen_t length, int flags) {
  const Deadline deadline = option_deadline(fd, SO_SNDTIMEO);
  nanoseconds backoff = std::chrono::milliseconds(1);
  for (;;) {
    if (deadline && Clock::now() >= *deadline) {
      errno = EAGAIN;
      return -1;
    }
    gev::sleep(backoff);
    backoff = std::min<nanoseconds>(backoff * 2, std::chrono::milliseconds(50));
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    const int r = GEV_REAL(connect)(fd, address, length);
    const int err = errno;
    ::fcntl(fd, F_SETFL, flags);
    if (r == 0 || err != EAGAIN) {
      errno = err;
      return r;
    }
  }
  (void)hub;
}

int cooperative_connect(Hub& hub, int fd, const sockaddr* address, socklen_t length) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_NONBLOCK)) return GEV_REAL(connect)(fd, address, length);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  const int r = GEV_REAL(connect)(fd, address, length);
  const int err = errno;
  ::fcntl(fd, F_SETFL, flags);
  if (r == 0) return 0;
  if (err == EAGAIN && address != nullptr && address->sa_family == AF_UNIX) {
    return connect_unix_backlog(hub, fd, address, length, flags);
  }
  if (err != EINPROGRESS) {
    errno = err;
    return -1;
  }
  switch (wait_fd(hub, fd, EV_WRITE, option_deadline(fd, SO_SNDTIMEO))) {
    case WaitResult::ready:
      break;
    case WaitResult::timed_out:
      errno = EINPROGRESS;  // what Linux's blocking connect says when SO_SNDTIMEO expires
      return -1;
    case WaitResult::closed:
      errno = EBADF;
      return -1;
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) return -1;
  if (so_error != 0) {
    errno = so_error;
    return -1;
  }
  return 0;
}

int cooperative_accept(Hub& hub, int fd, sockaddr* address, socklen_t* length, int accept_flags,
                       bool is_accept4) {
  auto call = [&] {
    return is_accept4 ? GEV_REAL(accept4)(fd, address, length, accept_flags)
                      : GEV_REAL(accept)(fd, address, length);
  };
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_NONBLOCK)) return call();
  Deadline deadline;
  bool have_deadline = false;
  for (;;) {
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    const int r = call();
    const int err = errno;
    ::fcntl(fd, F_SETFL, flags);
    if (r >= 0 || (err != EAGAIN && err != EWOULDBLOCK)) {
      errno = err;
      return r;
    }
    if (!have_deadline) {
      deadline = option_deadline(fd, SO_RCVTIMEO);
      have_deadline = true;
    }
    if (!park_until_ready(hub, fd, EV_READ, deadline)) return -1;
  }
}

// write() on a pipe or terminal: wait for room, then write. A pipe with room takes PIPE_BUF
// bytes without blocking, so a larger write goes PIPE_BUF at a time (POSIX makes no atomicity
// promise above PIPE_BUF anyway); a regular file or block device takes it all in one call.
ssize_t write_not_socket(Hub& hub, int fd, const char* buffer, size_t count) {
  struct stat st {};
  if (count <= PIPE_BUF || ::fstat(fd, &st) != 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
    return when_ready(hub, fd, POLLOUT, EV_WRITE,
                      [&] { return GEV_REAL(write)(fd, buffer, count); });
  }
  size_t written = 0;
  while (written < count) {
    const size_t chunk = std::min<size_t>(count - written, PIPE_BUF);
    const ssize_t r = when_ready(hub, fd, POLLOUT, EV_WRITE,
                                 [&] { return GEV_REAL(write)(fd, buffer + written, chunk); });
    if (r < 0) return written > 0 ? static_cast<ssize_t>(written) : r;
    written += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(written);
}

ssize_t cooperative_read(Hub& hub, int fd, void* buffer, size_t count) {
  const ssize_t r = receive(hub, fd, buffer, count, 0, nullptr, nullptr);
  if (r != -2) return r;
  return when_ready(hub, fd, POLLIN, EV_READ, [&] { return GEV_REAL(read)(fd, buffer, count); });
}

ssize_t cooperative_recvfrom(Hub& hub, int fd, void* buffer, size_t count, int flags,
                             sockaddr* from, socklen_t* from_length) {
  if (flags & MSG_DONTWAIT) return GEV_REAL(recvfrom)(fd, buffer, count, flags, from, from_length);
  const ssize_t r = receive(hub, fd, buffer, count, flags, from, from_length);
  if (r != -2) return r;
  errno = ENOTSOCK;
  return -1;
}

}  // namespace
}  // namespace gev::monkey::detail

using gev::Hub;
using gev::monkey::detail::cooperative_hub;
namespace md = gev::monkey::detail;

extern "C" {

ssize_t read(int fd, void* buffer, size_t count) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr) return GEV_REAL(read)(fd, buffer, count);
  return md::cooperative_read(*hub, fd, buffer, count);
}

ssize_t __read_chk(int fd, void* buffer, size_t count, size_t buffer_length) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || count > buffer_length) {
    return GEV_REAL(__read_chk)(fd, buffer, count, buffer_length);  // the check aborts
  }
  return md::cooperative_read(*hub, fd, buffer, count);
}

ssize_t readv(int fd, const iovec* iov, int iovcnt) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr) return GEV_REAL(readv)(fd, iov, iovcnt);
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  if (iovcnt < 0 || iovcnt > IOV_MAX) return GEV_REAL(readv)(fd, iov, iovcnt);  // EINVAL
  msg.msg_iovlen = static_cast<size_t>(iovcnt);
  const ssize_t first = GEV_REAL(recvmsg)(fd, &msg, MSG_DONTWAIT);
  if (first < 0 && errno == ENOTSOCK) {
    return md::when_ready(*hub, fd, POLLIN, EV_READ,
                          [&] { return GEV_REAL(readv)(fd, iov, iovcnt); });
  }
  return md::retry_single(*hub, fd, EV_READ, SO_RCVTIMEO, first,
                          [&] { return GEV_REAL(recvmsg)(fd, &msg, MSG_DONTWAIT); });
}

ssize_t recv(int fd, void* buffer, size_t count, int flags) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr) return GEV_REAL(recv)(fd, buffer, count, flags);
  return md::cooperative_recvfrom(*hub, fd, buffer, count, flags, nullptr, nullptr);
}

ssize_t __recv_chk(int fd, void* buffer, size_t count, size_t buffer_length, int flags) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || count > buffer_length) {
    return GEV_REAL(__recv_chk)(fd, buffer, count, buffer_length, flags);
  }
  return md::cooperative_recvfrom(*hub, fd, buffer, count, flags, nullptr, nullptr);
}

ssize_t recvfrom(int fd, void* buffer, size_t count, int flags, sockaddr* from,
                 socklen_t* from_length) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr) return GEV_REAL(recvfrom)(fd, buffer, count, flags, from, from_length);
  return md::cooperative_recvfrom(*hub, fd, buffer, count, flags, from, from_length);
}

ssize_t __recvfrom_chk(int fd, void* buffer, size_t count, size_t buffer_length, int flags,
                       sockaddr* from, socklen_t* from_length) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || count > buffer_length) {
    return GEV_REAL(__recvfrom_chk)(fd, buffer, count, buffer_length, flags, from, from_length);
  }
  return md::cooperative_recvfrom(*hub, fd, buffer, count, flags, from, from_length);
}

ssize_t recvmsg(int fd, msghdr* message, int flags) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || (flags & MSG_DONTWAIT)) return GEV_REAL(recvmsg)(fd, message, flags);
  // MSG_WAITALL is passed on but not looped over here: one message's worth, like a datagram.
  const ssize_t first = GEV_REAL(recvmsg)(fd, message, flags | MSG_DONTWAIT);
  return md::retry_single(*hub, fd, EV_READ, SO_RCVTIMEO, first,
                          [&] { return GEV_REAL(recvmsg)(fd, message, flags | MSG_DONTWAIT); });
}

ssize_t write(int fd, const void* buffer, size_t count) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr) return GEV_REAL(write)(fd, buffer, count);
  const ssize_t r = md::send_buffer(*hub, fd, buffer, count, 0, nullptr, 0);
  if (r != -2) return r;
  return md::write_not_socket(*hub, fd, static_cast<const char*>(buffer), count);
}

ssize_t writev(int fd, const iovec* iov, int iovcnt) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || iovcnt < 0 || iovcnt > IOV_MAX) return GEV_REAL(writev)(fd, iov, iovcnt);
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(iovcnt);
  const ssize_t r = md::send_all(*hub, fd, msg, 0);
  if (r != -2) return r;
  return md::when_ready(*hub, fd, POLLOUT, EV_WRITE,
                        [&] { return GEV_REAL(writev)(fd, iov, iovcnt); });
}

ssize_t send(int fd, const void* buffer, size_t count, int flags) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || (flags & MSG_DONTWAIT)) return GEV_REAL(send)(fd, buffer, count, flags);
  const ssize_t r = md::send_buffer(*hub, fd, buffer, count, flags, nullptr, 0);
  if (r != -2) return r;
  errno = ENOTSOCK;
  return -1;
}

ssize_t sendto(int fd, const void* buffer, size_t count, int flags, const sockaddr* to,
               socklen_t to_length) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || (flags & MSG_DONTWAIT)) {
    return GEV_REAL(sendto)(fd, buffer, count, flags, to, to_length);
  }
  const ssize_t r = md::send_buffer(*hub, fd, buffer, count, flags, to, to_length);
  if (r != -2) return r;
  errno = ENOTSOCK;
  return -1;
}

ssize_t sendmsg(int fd, const msghdr* message, int flags) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || (flags & MSG_DONTWAIT) || message == nullptr) {
    return GEV_REAL(sendmsg)(fd, message, flags);
  }
  const ssize_t r = md::send_all(*hub, fd, *message, flags);
  if (r != -2) return r;
  errno = ENOTSOCK;
  return -1;
}

int connect(int fd, const sockaddr* address, socklen_t length) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr) return GEV_REAL(connect)(fd, address, length);
  return md::cooperative_connect(*hub, fd, address, length);
}

int accept(int fd, sockaddr* address, socklen_t* length) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr) return GEV_REAL(accept)(fd, address, length);
  return md::cooperative_accept(*hub, fd, address, length, 0, false);
}

int accept4(int fd, sockaddr* address, socklen_t* length, int flags) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr) return GEV_REAL(accept4)(fd, address, length, flags);
  return md::cooperative_accept(*hub, fd, address, length, flags, true);
}

int close(int fd) {
  if (fd < 0) [[unlikely]]
    md::note_probe(fd);
  if (md::g_patched.load(std::memory_order_relaxed)) md::descriptor_closing(fd);
  return GEV_REAL(close)(fd);
}

int dup2(int fd, int target) noexcept {
  if (md::g_patched.load(std::memory_order_relaxed) && md::dup_will_replace(fd, target)) {
    md::descriptor_closing(target);  // dup2 closes the old target first
  }
  return GEV_REAL(dup2)(fd, target);
}

int dup3(int fd, int target, int flags) noexcept {
  if (md::g_patched.load(std::memory_order_relaxed) && (flags & ~O_CLOEXEC) == 0 &&
      md::dup_will_replace(fd, target)) {
    md::descriptor_closing(target);
  }
  return GEV_REAL(dup3)(fd, target, flags);
}

}  // extern "C"
