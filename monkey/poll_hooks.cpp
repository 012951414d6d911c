// poll, ppoll, select, pselect, epoll_wait, epoll_pwait: park the greenlet on every descriptor
// asked for, with the timeout. The answer always comes from the kernel: the hook asks libc
// with a zero timeout first, and again after each wake-up, so revents, the fd_sets and the
// epoll events are exactly what libc would report (a wake-up that libc does not confirm parks
// again). In a greenlet the signal mask of ppoll/pselect/epoll_pwait is not applied: signals are
// the hub's business there, and changing the thread's mask would affect every greenlet.
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "gev/monkey/detail/fd_wait.hpp"
#include "gev/monkey/detail/original.hpp"

extern "C" {
int __poll_chk(pollfd* fds, nfds_t nfds, int timeout_ms, size_t fds_length);
int __ppoll_chk(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask,
                size_t fds_length);
}

namespace gev::monkey::detail {
namespace {

Deadline deadline_from_ms(int timeout_ms) {
  if (timeout_ms < 0) return std::nullopt;
  return deadline_in(std::chrono::milliseconds(timeout_ms));
}

Deadline deadline_from_timespec(const timespec* ts) {
  if (ts == nullptr) return std::nullopt;
  return deadline_in(std::chrono::seconds(ts->tv_sec) + std::chrono::nanoseconds(ts->tv_nsec));
}

bool passed(const Deadline& d) {
  return d && Clock::now() >= *d;
}

int ev_events_for_poll(short events) {
  int ev = 0;
  if (events & (POLLIN | POLLRDNORM)) ev |= EV_READ;
  if (events & (POLLOUT | POLLWRNORM)) ev |= EV_WRITE;
  return ev;
}

// Conditions a read or write watcher does not express -- POLLPRI, POLLRDHUP, POLLRDBAND, or no
// events at all (hang-up and error only) -- go into a private epoll descriptor with exactly those
// events, and the wait also watches that descriptor becoming readable. Made only when needed.
class ExactEvents {
 public:
  ExactEvents() = default;
  ExactEvents(const ExactEvents&) = delete;
  ExactEvents& operator=(const ExactEvents&) = delete;
  ~ExactEvents() {
    if (epfd_ >= 0) GEV_REAL(close)(epfd_);
  }

  void add(int fd, std::uint32_t events) {
    const int saved = errno;
    if (epfd_ < 0) epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ >= 0) {
      epoll_event ev{};
      ev.events = events;
      ev.data.fd = fd;
      // A descriptor epoll refuses (a regular file, a bad one) is ready or invalid: the first
      // re-check answers for it. A duplicate keeps the first entry's events.
      ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    }
    errno = saved;
  }
  int fd() const { return epfd_; }

 private:
  int epfd_ = -1;
};

// The epoll events for the poll bits a watcher cannot express (0: none needed).
std::uint32_t exact_events_for_poll(short events) {
  std::uint32_t ev = 0;
  if (events & POLLPRI) ev |= EPOLLPRI;
  if (events & POLLRDHUP) ev |= EPOLLRDHUP;
  if (events & POLLRDBAND) ev |= EPOLLRDBAND;
  return ev;
}

// Storage for the watches of one call: inline for the usual handful of descriptors.
class Watches {
 public:
  explicit Watches(std::size_t n) {
    if (n > kInline) {
      heap_ = std::make_unique<FdWatch[]>(n);
      data_ = heap_.get();
    }
  }
  FdWatch* data() { return data_; }
  FdWatch& operator[](std::size_t i) { return data_[i]; }

 private:
  static constexpr std::size_t kInline = 16;
  FdWatch inline_[kInline];
  std::unique_ptr<FdWatch[]> heap_;
  FdWatch* data_ = inline_;
};

// check() asks libc without waiting; > 0 or < 0 ends the call. Otherwise park on `watches`
// until the deadline, re-checking after each wake-up.
template <class Check>
int wait_and_check(Hub& hub, FdWatch* watches, std::size_t count, const Deadline& deadline,
                   Check&& check) {
  for (;;) {
    const WaitResult w = wait_fds(hub, watches, count, deadline);
    const int r = check();
    if (r != 0 || w == WaitResult::timed_out) return r;
    if (passed(deadline)) return 0;
  }
}

int cooperative_poll(Hub& hub, pollfd* fds, nfds_t nfds, const Deadline& deadline) {
  auto check = [&] { return GEV_REAL(poll)(fds, nfds, 0); };
  const int first = check();
  if (first != 0 || (deadline && passed(deadline))) return first;
  Watches watches(nfds + 1);
  ExactEvents exact;
  for (nfds_t i = 0; i < nfds; ++i) {
    const int ev = ev_events_for_poll(fds[i].events);
    watches[i] = FdWatch{fds[i].fd, ev, 0};
    const std::uint32_t extra = exact_events_for_poll(fds[i].events);
    if (fds[i].fd >= 0 && (ev == 0 || extra != 0)) exact.add(fds[i].fd, extra);
  }
  watches[nfds] = FdWatch{exact.fd(), EV_READ, 0};  // fd -1 (unused) is skipped by wait_fds
  return wait_and_check(hub, watches.data(), nfds + 1, deadline, check);
}

int cooperative_select(Hub& hub, int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                       const Deadline& deadline) {
  if (nfds < 0 || nfds > FD_SETSIZE) {
    errno = EINVAL;
    return -1;
  }
  fd_set in_read, in_write, in_except;
  if (readfds) in_read = *readfds;
  if (writefds) in_write = *writefds;
  if (exceptfds) in_except = *exceptfds;
  auto check = [&] {
    if (readfds) *readfds = in_read;
    if (writefds) *writefds = in_write;
    if (exceptfds) *exceptfds = in_except;
    timeval zero{0, 0};
    return GEV_REAL(select)(nfds, readfds, writefds, exceptfds, &zero);
  };
  const int first = check();
  if (first != 0 || (deadline && passed(deadline))) return first;
  std::size_t count = 0;
  for (int fd = 0; fd < nfds; ++fd) {
    if ((readfds && FD_ISSET(fd, &in_read)) || (writefds && FD_ISSET(fd, &in_write))) ++count;
  }
  Watches watches(count + 1);
  ExactEvents exact;  // exceptfds: urgent data (EPOLLPRI), which no watcher expresses
  std::size_t i = 0;
  for (int fd = 0; fd < nfds; ++fd) {
    int ev = 0;
    if (readfds && FD_ISSET(fd, &in_read)) ev |= EV_READ;
    if (writefds && FD_ISSET(fd, &in_write)) ev |= EV_WRITE;
    if (ev) watches[i++] = FdWatch{fd, ev, 0};
    if (exceptfds && FD_ISSET(fd, &in_except)) exact.add(fd, EPOLLPRI);
  }
  watches[i++] = FdWatch{exact.fd(), EV_READ, 0};
  return wait_and_check(hub, watches.data(), i, deadline, check);
}

int cooperative_epoll_wait(Hub& hub, int epfd, epoll_event* events, int maxevents,
                           const Deadline& deadline) {
  auto check = [&] { return GEV_REAL(epoll_wait)(epfd, events, maxevents, 0); };
  const int first = check();
  if (first != 0 || (deadline && passed(deadline))) return first;
  FdWatch watch{epfd, EV_READ, 0};  // an epoll descriptor is readable while events are pending
  return wait_and_check(hub, &watch, 1, deadline, check);
}

// Linux's select/pselect leave the time not slept in *timeout.
void store_remaining(timeval* tv, const Deadline& deadline) {
  if (tv == nullptr || !deadline) return;
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(*deadline - Clock::now());
  if (left.count() < 0) left = std::chrono::microseconds(0);
  tv->tv_sec = static_cast<time_t>(left.count() / 1000000);
  tv->tv_usec = static_cast<suseconds_t>(left.count() % 1000000);
}

bool valid_timespec(const timespec* ts) {
  return ts == nullptr || (ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000);
}

}  // namespace
}  // namespace gev::monkey::detail

using gev::Hub;
using gev::monkey::detail::cooperative_hub;
namespace md = gev::monkey::detail;

extern "C" {

int poll(pollfd* fds, nfds_t nfds, int timeout_ms) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || timeout_ms == 0) return GEV_REAL(poll)(fds, nfds, timeout_ms);
  return md::cooperative_poll(*hub, fds, nfds, md::deadline_from_ms(timeout_ms));
}

int __poll_chk(pollfd* fds, nfds_t nfds, int timeout_ms, size_t fds_length) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || timeout_ms == 0 || nfds > fds_length / sizeof(pollfd)) {
    return GEV_REAL(__poll_chk)(fds, nfds, timeout_ms, fds_length);
  }
  return md::cooperative_poll(*hub, fds, nfds, md::deadline_from_ms(timeout_ms));
}

int ppoll(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || !md::valid_timespec(timeout)) {
    return GEV_REAL(ppoll)(fds, nfds, timeout, sigmask);
  }
  return md::cooperative_poll(*hub, fds, nfds, md::deadline_from_timespec(timeout));
}

int __ppoll_chk(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask,
                size_t fds_length) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || !md::valid_timespec(timeout) || nfds > fds_length / sizeof(pollfd)) {
    return GEV_REAL(__ppoll_chk)(fds, nfds, timeout, sigmask, fds_length);
  }
  return md::cooperative_poll(*hub, fds, nfds, md::deadline_from_timespec(timeout));
}

int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, timeval* timeout) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr ||
      (timeout && (timeout->tv_sec < 0 || timeout->tv_usec < 0 || timeout->tv_usec >= 1000000))) {
    return GEV_REAL(select)(nfds, readfds, writefds, exceptfds, timeout);
  }
  md::Deadline deadline;
  if (timeout) {
    deadline = md::deadline_in(std::chrono::seconds(timeout->tv_sec) +
                               std::chrono::microseconds(timeout->tv_usec));
  }
  const int r = md::cooperative_select(*hub, nfds, readfds, writefds, exceptfds, deadline);
  md::store_remaining(timeout, deadline);
  return r;
}

int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, const timespec* timeout,
            const sigset_t* sigmask) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || !md::valid_timespec(timeout)) {
    return GEV_REAL(pselect)(nfds, readfds, writefds, exceptfds, timeout, sigmask);
  }
  return md::cooperative_select(*hub, nfds, readfds, writefds, exceptfds,
                                md::deadline_from_timespec(timeout));
}

int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout_ms) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || timeout_ms == 0) {
    return GEV_REAL(epoll_wait)(epfd, events, maxevents, timeout_ms);
  }
  return md::cooperative_epoll_wait(*hub, epfd, events, maxevents,
                                    md::deadline_from_ms(timeout_ms));
}

int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout_ms,
                const sigset_t* sigmask) {
  Hub* hub = cooperative_hub();
  if (hub == nullptr || timeout_ms == 0) {
    return GEV_REAL(epoll_pwait)(epfd, events, maxevents, timeout_ms, sigmask);
  }
  return md::cooperative_epoll_wait(*hub, epfd, events, maxevents,
                                    md::deadline_from_ms(timeout_ms));
}

}  // extern "C"
