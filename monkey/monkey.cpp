#include "gev/monkey/monkey.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "gev/monkey/detail/fd_wait.hpp"
#include "gev/monkey/detail/original.hpp"
#include "gev/monkey/detail/probe.hpp"

namespace gev::monkey {
namespace detail {

void* next_symbol(const char* name) noexcept {
  void* p = ::dlsym(RTLD_NEXT, name);
  if (p == nullptr) {
    // No libc behind us (a static libc, or a name this libc lacks): nothing sensible to call.
    const char* why = ::dlerror();
    std::fprintf(stderr, "gev::monkey: cannot find the libc function %s (%s)\n", name,
                 why ? why : "dlsym(RTLD_NEXT) found nothing");
    std::abort();
  }
  return p;
}

namespace {
[[gnu::tls_model("initial-exec")]] thread_local bool tl_probing = false;
[[gnu::tls_model("initial-exec")]] thread_local bool tl_probe_seen = false;
}  // namespace

void note_probe(int fd) noexcept {
  if (fd == kProbeDescriptor && tl_probing) tl_probe_seen = true;
}

}  // namespace detail

bool hooks_interposed() noexcept {
  // The "close" that other libraries get is the first one the dynamic linker finds; calling it
  // must reach our hook (directly, or through a sanitizer's interceptor that forwards to the
  // next definition).
  auto* first = reinterpret_cast<int (*)(int)>(::dlsym(RTLD_DEFAULT, "close"));
  if (first == nullptr) return false;
  const int saved = errno;
  detail::tl_probe_seen = false;
  detail::tl_probing = true;
  first(detail::kProbeDescriptor);
  detail::tl_probing = false;
  errno = saved;
  return detail::tl_probe_seen;
}

void patch_all() {
  if (detail::g_patched.load(std::memory_order_acquire)) return;
  if (!hooks_interposed()) {
    throw std::runtime_error(
        "gev::monkey::patch_all: libc's functions are not interposed, so patching would do "
        "nothing. Link gev::monkey into the executable itself (not only into a library, and "
        "not dropped by -Wl,--as-needed), or start the program with "
        "LD_PRELOAD=libgev_monkey.so");
  }
  detail::g_patched.store(true, std::memory_order_release);
}

bool is_patched() noexcept {
  return detail::g_patched.load(std::memory_order_acquire);
}

namespace original {
ssize_t read(int fd, void* buffer, size_t count) {
  return GEV_REAL(read)(fd, buffer, count);
}
ssize_t readv(int fd, const iovec* iov, int iovcnt) {
  return GEV_REAL(readv)(fd, iov, iovcnt);
}
ssize_t write(int fd, const void* buffer, size_t count) {
  return GEV_REAL(write)(fd, buffer, count);
}
ssize_t writev(int fd, const iovec* iov, int iovcnt) {
  return GEV_REAL(writev)(fd, iov, iovcnt);
}
int connect(int fd, const sockaddr* address, socklen_t length) {
  return GEV_REAL(connect)(fd, address, length);
}
int accept(int fd, sockaddr* address, socklen_t* length) {
  return GEV_REAL(accept)(fd, address, length);
}
int accept4(int fd, sockaddr* address, socklen_t* length, int flags) {
  return GEV_REAL(accept4)(fd, address, length, flags);
}
ssize_t recv(int fd, void* buffer, size_t count, int flags) {
  return GEV_REAL(recv)(fd, buffer, count, flags);
}
ssize_t recvfrom(int fd, void* buffer, size_t count, int flags, sockaddr* from,
                 socklen_t* from_length) {
  return GEV_REAL(recvfrom)(fd, buffer, count, flags, from, from_length);
}
ssize_t recvmsg(int fd, msghdr* message, int flags) {
  return GEV_REAL(recvmsg)(fd, message, flags);
}
ssize_t send(int fd, const void* buffer, size_t count, int flags) {
  return GEV_REAL(send)(fd, buffer, count, flags);
}
ssize_t sendto(int fd, const void* buffer, size_t count, int flags, const sockaddr* to,
               socklen_t to_length) {
  return GEV_REAL(sendto)(fd, buffer, count, flags, to, to_length);
}
ssize_t sendmsg(int fd, const msghdr* message, int flags) {
  return GEV_REAL(sendmsg)(fd, message, flags);
}
int poll(pollfd* fds, nfds_t nfds, int timeout_ms) {
  return GEV_REAL(poll)(fds, nfds, timeout_ms);
}
int ppoll(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask) {
  return GEV_REAL(ppoll)(fds, nfds, timeout, sigmask);
}
int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, timeval* timeout) {
  return GEV_REAL(select)(nfds, readfds, writefds, exceptfds, timeout);
}
int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, const timespec* timeout,
            const sigset_t* sigmask) {
  return GEV_REAL(pselect)(nfds, readfds, writefds, exceptfds, timeout, sigmask);
}
int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout_ms) {
  return GEV_REAL(epoll_wait)(epfd, events, maxevents, timeout_ms);
}
int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout_ms,
                const sigset_t* sigmask) {
  return GEV_REAL(epoll_pwait)(epfd, events, maxevents, timeout_ms, sigmask);
}
unsigned int sleep(unsigned int seconds) {
  return GEV_REAL(sleep)(seconds);
}
int usleep(useconds_t microseconds) {
  return GEV_REAL(usleep)(microseconds);
}
int nanosleep(const timespec* duration, timespec* remaining) {
  return GEV_REAL(nanosleep)(duration, remaining);
}
int clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining) {
  return GEV_REAL(clock_nanosleep)(clock, flags, request, remaining);
}
int close(int fd) {
  return GEV_REAL(close)(fd);
}
int dup2(int fd, int target) {
  return GEV_REAL(dup2)(fd, target);
}
int dup3(int fd, int target, int flags) {
  return GEV_REAL(dup3)(fd, target, flags);
}
int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result) {
  return GEV_REAL(getaddrinfo)(node, service, hints, result);
}
hostent* gethostbyname(const char* name) {
  return GEV_REAL(gethostbyname)(name);
}
hostent* gethostbyname2(const char* name, int family) {
  return GEV_REAL(gethostbyname2)(name, family);
}
int gethostbyname_r(const char* name, hostent* result, char* buffer, size_t length, hostent** out,
                    int* h_errnop) {
  return GEV_REAL(gethostbyname_r)(name, result, buffer, length, out, h_errnop);
}
int gethostbyname2_r(const char* name, int family, hostent* result, char* buffer, size_t length,
                     hostent** out, int* h_errnop) {
  return GEV_REAL(gethostbyname2_r)(name, family, result, buffer, length, out, h_errnop);
}
int getnameinfo(const sockaddr* address, socklen_t length, char* host, socklen_t host_length,
                char* service, socklen_t service_length, int flags) {
  return GEV_REAL(getnameinfo)(address, length, host, host_length, service, service_length, flags);
}
}  // namespace original

namespace {
// GEV_MONKEY=1: patch at load time, for LD_PRELOAD=libgev_monkey.so on a program that never
// calls patch_all() itself.
[[gnu::constructor]] void patch_from_environment() {
  const char* v = std::getenv("GEV_MONKEY");
  if (v == nullptr || std::strcmp(v, "1") != 0) return;
  try {
    patch_all();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gev::monkey: GEV_MONKEY=1: %s\n", e.what());
  }
}
}  // namespace

}  // namespace gev::monkey
