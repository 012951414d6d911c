/// @file
/// Monkey patching: unmodified blocking C and C++ code becomes cooperative (gevent.monkey).
///
/// gev::monkey is a shared library that defines the libc functions that can block -- socket I/O,
/// connect/accept, poll/select/epoll_wait, the sleeps, getaddrinfo and gethostbyname -- in front of
/// libc. Two opt-ins make them cooperative: link gev::monkey into the executable (so the dynamic
/// linker binds those names to it), then call patch_all(). From then on, a call made by any code
/// (libcurl, OpenSSL, a database driver, your own POSIX code) inside a greenlet parks only that
/// greenlet when it would block, and the hub runs the others meanwhile:
///
/// @code
/// int main() {
///   gev::monkey::patch_all();
///   auto a = gev::spawn([] { curl_easy_perform(h1); });   // both downloads run at once
///   auto b = gev::spawn([] { curl_easy_perform(h2); });
///   gev::joinall({a, b});
/// }
/// @endcode
///
/// Without linking it, `LD_PRELOAD=libgev_monkey.so GEV_MONKEY=1 ./program` patches a program
/// that uses gev but was not linked with gev::monkey (GEV_MONKEY=1 calls patch_all() when the
/// library loads).
///
/// What the program sees stays POSIX: a hook cooperates only after patch_all(), on a thread that
/// has a hub, in a greenlet or the main greenlet (never in the hub's own callbacks). Everywhere
/// else it calls libc at once and allocates nothing. gev never changes a descriptor's flags or
/// options, so F_GETFL, ioctl(FIONBIO) and SO_RCVTIMEO/SO_SNDTIMEO read back what the program set;
/// a descriptor the program made non-blocking still returns EAGAIN; SO_RCVTIMEO/SO_SNDTIMEO bound
/// the cooperative wait and then give EAGAIN; errno is set when the call returns. A kill or
/// Timeout aimed at a greenlet parked in a hook unwinds from that call, like pthread
/// cancellation at a cancellation point. docs/monkey.md has the full list and the pitfalls.
#pragma once

#include <netdb.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include <csignal>

namespace gev::monkey {

/// Turns the hooks on for the whole process (every thread with a hub). Idempotent. Throws
/// std::runtime_error when the hooks are not in front of libc -- the executable was linked
/// without gev::monkey (or with `--as-needed` dropped it) and it was not LD_PRELOADed -- since
/// patching would then silently do nothing.
void patch_all();

/// Whether patch_all() has been called.
bool is_patched() noexcept;

/// Whether this library's definitions are the ones the process calls (checked with
/// dlsym(RTLD_DEFAULT, ...)): false means patch_all() would throw.
bool hooks_interposed() noexcept;

/// The real libc functions, for code that must bypass the hooks (found with dlsym(RTLD_NEXT)).
namespace original {
/// libc's connect(2).
int connect(int fd, const sockaddr* address, socklen_t length);
/// libc's accept(2).
int accept(int fd, sockaddr* address, socklen_t* length);
/// libc's accept4(2).
int accept4(int fd, sockaddr* address, socklen_t* length, int flags);
/// libc's read(2).
ssize_t read(int fd, void* buffer, size_t count);
/// libc's readv(2).
ssize_t readv(int fd, const iovec* iov, int iovcnt);
/// libc's write(2).
ssize_t write(int fd, const void* buffer, size_t count);
/// libc's writev(2).
ssize_t writev(int fd, const iovec* iov, int iovcnt);
/// libc's recv(2).
ssize_t recv(int fd, void* buffer, size_t count, int flags);
/// libc's recvfrom(2).
ssize_t recvfrom(int fd, void* buffer, size_t count, int flags, sockaddr* from,
                 socklen_t* from_length);
/// libc's recvmsg(2).
ssize_t recvmsg(int fd, msghdr* message, int flags);
/// libc's send(2).
ssize_t send(int fd, const void* buffer, size_t count, int flags);
/// libc's sendto(2).
ssize_t sendto(int fd, const void* buffer, size_t count, int flags, const sockaddr* to,
               socklen_t to_length);
/// libc's sendmsg(2).
ssize_t sendmsg(int fd, const msghdr* message, int flags);
/// libc's poll(2).
int poll(pollfd* fds, nfds_t nfds, int timeout_ms);
/// libc's ppoll(2).
int ppoll(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask);
/// libc's select(2).
int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, timeval* timeout);
/// libc's pselect(2).
int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, const timespec* timeout,
            const sigset_t* sigmask);
/// libc's epoll_wait(2).
int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout_ms);
/// libc's epoll_pwait(2).
int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout_ms,
                const sigset_t* sigmask);
/// libc's sleep(3).
unsigned int sleep(unsigned int seconds);
/// libc's usleep(3).
int usleep(useconds_t microseconds);
/// libc's nanosleep(2).
int nanosleep(const timespec* duration, timespec* remaining);
/// libc's clock_nanosleep(2).
int clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining);
/// libc's close(2).
int close(int fd);
/// libc's dup2(2).
int dup2(int fd, int target);
/// libc's dup3(2).
int dup3(int fd, int target, int flags);
/// libc's getaddrinfo(3).
int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result);
/// libc's gethostbyname(3).
hostent* gethostbyname(const char* name);
/// libc's gethostbyname2(3).
hostent* gethostbyname2(const char* name, int family);
/// libc's gethostbyname_r(3).
int gethostbyname_r(const char* name, hostent* result, char* buffer, size_t length, hostent** out,
                    int* h_errnop);
/// libc's gethostbyname2_r(3).
int gethostbyname2_r(const char* name, int family, hostent* result, char* buffer, size_t length,
                     hostent** out, int* h_errnop);
/// libc's getnameinfo(3).
int getnameinfo(const sockaddr* address, socklen_t length, char* host, socklen_t host_length,
                char* service, socklen_t service_length, int flags);
}  // namespace original

}  // namespace gev::monkey
