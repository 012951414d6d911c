// gev::monkey with plain POSIX code: after patch_all(), socket/connect/accept/read/write,
// poll/select/epoll_wait, the sleeps and getaddrinfo park only the calling greenlet, while what
// the program observes (flags, errno, timeouts, revents) stays what libc would report. The
// code under test calls libc names only; gev shows up only to spawn greenlets and to check
// that others ran meanwhile (a ticker). Every blocking call that would hang the thread if the
// hooks did not work is bounded by SO_RCVTIMEO or a poll timeout, so a failure fails, never hangs.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gev/monkey/monkey.hpp>
#include <gev/net/ssl_context.hpp>
#include <gev/net/ssl_stream.hpp>
#include <gev/net/stream_server.hpp>
#include <gev/runtime/timeout.hpp>

#include "monkey/monkey_support.hpp"
#include "net/net_support.hpp"
#include "net/ssl_support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using gev::test::FdBaseline;
using gev::test::seconds_since;
using gev::test::Ticker;

namespace {

struct Patched {
  Patched() { gev::monkey::patch_all(); }
};

void set_timeout(int fd, int option, std::chrono::milliseconds ms) {
  timeval tv{static_cast<time_t>(ms.count() / 1000),
             static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv) == 0);
}

struct Pair {
  int a = -1, b = -1;
  Pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);  // blocking, as plain code has it
    a = fds[0];
    b = fds[1];
    set_timeout(a, SO_RCVTIMEO, 5000ms);  // a broken hook fails after 5 s instead of hanging
    set_timeout(b, SO_RCVTIMEO, 5000ms);
  }
  ~Pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

// A blocking TCP listener on 127.0.0.1 written with libc calls only; returns its port.
int posix_listener(int* port, int backlog = 128) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, backlog) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

// Plain POSIX client code, as a C library would have it: resolve, connect, send, read, close.
std::string posix_round_trip(const char* host, int port, const std::string& message) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host, service.c_str(), &hints, &res) != 0) return "getaddrinfo failed";
  int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  set_timeout(fd, SO_RCVTIMEO, 5000ms);
  const int c = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (c != 0) {
    ::close(fd);
    return std::string("connect: ") + std::strerror(errno);
  }
  if (::write(fd, message.data(), message.size()) != static_cast<ssize_t>(message.size())) {
    ::close(fd);
    return "short write";
  }
  std::string reply;
  char buf[256];
  for (int i = 0; i < 100; ++i) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

}  // namespace

TEST_CASE("patch_all: the hooks are interposed, patching is idempotent") {
  // This suite's first case: nothing has patched yet, so the hooks only pass calls on.
  CHECK_FALSE(gev::monkey::is_patched());
  {
    Pair p;
    set_timeout(p.a, SO_RCVTIMEO, 50ms);
    char c;
    errno = 0;
    CHECK(::read(p.a, &c, 1) == -1);  // the kernel's own timeout, the thread blocked
    CHECK(errno == EAGAIN);
  }
  CHECK(gev::monkey::hooks_interposed());
  gev::monkey::patch_all();
  gev::monkey::patch_all();
  CHECK(gev::monkey::is_patched());
}

TEST_CASE("plain POSIX server and 100 plain POSIX clients run concurrently in greenlets") {
  Patched patched;
  FdBaseline fds;
  {
    int port = 0;
    const int listener = posix_listener(&port);
    set_timeout(listener, SO_RCVTIMEO, 10000ms);
    std::atomic<int> accepted{0};
    // Each connection: read the request, wait 100 ms (usleep), answer it reversed, close.
    auto server = gev::spawn([&] {
      for (int i = 0; i < 100; ++i) {
        const int c = ::accept(listener, nullptr, nullptr);
        if (c < 0) break;
        ++accepted;
        gev::spawn([c] {
          char buf[256];
          const ssize_t n = ::read(c, buf, sizeof buf);
          ::usleep(100'000);
          if (n > 0) {
            std::string s(buf, static_cast<size_t>(n));
            std::string r(s.rbegin(), s.rend());
            ::write(c, r.data(), r.size());
          }
          ::close(c);
        });
      }
    });
    Ticker ticker;
    const auto start = Clock::now();
    gev::GreenletList clients;
    std::vector<std::string> replies(100);
    for (int i = 0; i < 100; ++i) {
      clients.push_back(gev::spawn([&, i] {
        replies[static_cast<size_t>(i)] =
            posix_round_trip("localhost", port, "msg-" + std::to_string(i));
      }));
    }
    gev::joinall(clients, 30s);
    const double took = seconds_since(start);
    for (int i = 0; i < 100; ++i) {
      std::string m = "msg-" + std::to_string(i);
      CHECK(replies[static_cast<size_t>(i)] == std::string(m.rbegin(), m.rend()));
    }
    CHECK(accepted == 100);
    CHECK(took < 3.0);  // serial: 100 x 100 ms = 10 s
    CHECK(ticker.ticks > 10);
    REQUIRE(server->join(5s));
    ::close(listener);
    MESSAGE("100 POSIX clients with a 100 ms server delay took " << took << " s");
  }
  fds.check();
}

TEST_CASE("sleep, usleep, nanosleep, clock_nanosleep park only the greenlet") {
  Patched patched;
  SUBCASE("1000 greenlets in usleep(100 ms) finish together") {
    const auto start = Clock::now();
    gev::GreenletList gs;
    int done = 0;
    for (int i = 0; i < 1000; ++i) {
      gs.push_back(gev::spawn([&] {
        CHECK(::usleep(100'000) == 0);
        ++done;
      }));
    }
    gev::joinall(gs, 10s);
    CHECK(done == 1000);
    const double took = seconds_since(start);
    CHECK(took >= 0.09);
    CHECK(took < 1.0);
    MESSAGE("1000 x usleep(100 ms): " << took << " s");
  }
  SUBCASE("nanosleep, sleep and clock_nanosleep (relative and absolute) in parallel") {
    Ticker ticker;
    const auto start = Clock::now();
    auto a = gev::spawn([] {
      timespec d{0, 200'000'000}, rem{1, 1};
      CHECK(::nanosleep(&d, &rem) == 0);
      CHECK(rem.tv_sec == 0);
      CHECK(rem.tv_nsec == 0);
    });
    auto b = gev::spawn([] { CHECK(::sleep(1) == 0u); });
    auto c = gev::spawn([] {
      timespec d{0, 200'000'000};
      CHECK(::clock_nanosleep(CLOCK_MONOTONIC, 0, &d, nullptr) == 0);
      timespec now{};
      ::clock_gettime(CLOCK_REALTIME, &now);
      timespec until{now.tv_sec, now.tv_nsec + 300'000'000};
      if (until.tv_nsec >= 1'000'000'000) {
        until.tv_sec += 1;
        until.tv_nsec -= 1'000'000'000;
      }
      CHECK(::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, nullptr) == 0);
      ::clock_gettime(CLOCK_REALTIME, &now);
      CHECK((now.tv_sec > until.tv_sec ||
             (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec)));
    });
    gev::joinall({a, b, c}, 10s);
    const double took = seconds_since(start);
    CHECK(took >= 0.95);
    CHECK(took < 3.0);  // serial: 1.7 s; concurrent: 1 s
    CHECK(ticker.ticks > 50);
  }
  SUBCASE("invalid arguments are libc's errors") {
    timespec bad{0, 2'000'000'000};
    errno = 0;
    CHECK(::nanosleep(&bad, nullptr) == -1);
    CHECK(errno == EINVAL);
    CHECK(::clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr) == EINVAL);
  }
}

TEST_CASE("poll on several descriptors with a timeout") {
  Patched patched;
  FdBaseline fds;
  {
    Pair p1, p2, p3;
    Ticker ticker;
    auto writer = gev::spawn([&] {
      gev::sleep(50ms);
      ::write(p2.b, "x", 1);
    });
    pollfd set[3] = {{p1.a, POLLIN, 0}, {p2.a, POLLIN, 0}, {p3.a, POLLIN, 0}};
    const long before = ticker.ticks;
    CHECK(::poll(set, 3, 5000) == 1);
    CHECK(ticker.ticks > before);
    CHECK(set[0].revents == 0);
    CHECK(set[1].revents == POLLIN);
    CHECK(set[2].revents == 0);
    writer->join();

    // Nothing arrives: 0 after the timeout, with the revents cleared.
    char c;
    ::read(p2.a, &c, 1);
    const auto start = Clock::now();
    CHECK(::poll(set, 3, 100) == 0);
    CHECK(seconds_since(start) >= 0.09);
    for (auto& s : set) CHECK(s.revents == 0);

    // The peer goes away: POLLHUP, as libc reports it; a bad descriptor: POLLNVAL at once.
    auto closer = gev::spawn([&] {
      gev::sleep(20ms);
      ::close(p3.b);
      p3.b = -1;
    });
    pollfd hup{p3.a, POLLIN, 0};
    CHECK(::poll(&hup, 1, 5000) == 1);
    CHECK((hup.revents & POLLHUP) != 0);
    closer->join();
    pollfd nval{1 << 20, POLLIN, 0};
    CHECK(::poll(&nval, 1, 5000) == 1);
    CHECK(nval.revents == POLLNVAL);

    // ppoll: the same, with a timespec.
    timespec ts{0, 50'000'000};
    pollfd one{p1.a, POLLIN, 0};
    CHECK(::ppoll(&one, 1, &ts, nullptr) == 0);
  }
  fds.check();
}

TEST_CASE("select and pselect on several descriptors") {
  Patched patched;
  Pair p1, p2;
  Ticker ticker;
  auto writer = gev::spawn([&] {
    gev::sleep(50ms);
    ::write(p1.b, "x", 1);
  });
  fd_set r;
  FD_ZERO(&r);
  FD_SET(p1.a, &r);
  FD_SET(p2.a, &r);
  timeval tv{5, 0};
  const long before = ticker.ticks;
  CHECK(::select(std::max(p1.a, p2.a) + 1, &r, nullptr, nullptr, &tv) == 1);
  CHECK(ticker.ticks > before);
  CHECK(FD_ISSET(p1.a, &r));
  CHECK_FALSE(FD_ISSET(p2.a, &r));
  CHECK(tv.tv_sec <= 5);  // Linux leaves the time not slept
  CHECK((tv.tv_sec < 5 || tv.tv_usec < 1000000));
  writer->join();

  fd_set w;
  FD_ZERO(&r);
  FD_SET(p2.a, &r);
  FD_ZERO(&w);
  FD_SET(p2.a, &w);  // writable at once
  timeval zero_wait{5, 0};
  CHECK(::select(p2.a + 1, &r, &w, nullptr, &zero_wait) == 1);
  CHECK(FD_ISSET(p2.a, &w));
  CHECK_FALSE(FD_ISSET(p2.a, &r));

  FD_ZERO(&r);
  FD_SET(p2.a, &r);
  timespec ts{0, 60'000'000};
  const auto start = Clock::now();
  CHECK(::pselect(p2.a + 1, &r, nullptr, nullptr, &ts, nullptr) == 0);
  CHECK(seconds_since(start) >= 0.05);
  CHECK_FALSE(FD_ISSET(p2.a, &r));
}

TEST_CASE("epoll_wait parks the greenlet on the epoll descriptor") {
  Patched patched;
  Pair p;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  REQUIRE(ep >= 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = 77;
  REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, p.a, &ev) == 0);
  Ticker ticker;
  auto writer = gev::spawn([&] {
    gev::sleep(50ms);
    ::write(p.b, "x", 1);
  });
  epoll_event out[4];
  const long before = ticker.ticks;
  CHECK(::epoll_wait(ep, out, 4, 5000) == 1);
  const unsigned tag = out[0].data.u32;
  CHECK(tag == 77u);
  CHECK(ticker.ticks > before);
  writer->join();
  char c;
  ::read(p.a, &c, 1);
  CHECK(::epoll_wait(ep, out, 4, 50) == 0);
  ::close(ep);
}

TEST_CASE("SO_RCVTIMEO and SO_SNDTIMEO: EAGAIN after the timeout, errno survives the park") {
  Patched patched;
  Pair p;
  set_timeout(p.a, SO_RCVTIMEO, 150ms);
  Ticker ticker;
  auto noisy = gev::spawn([] {
    for (int i = 0; i < 20; ++i) {
      errno = EDOM;  // another greenlet scribbling on errno while we are parked
      gev::sleep(5ms);
    }
  });
  char buf[16];
  const auto start = Clock::now();
  errno = 0;
  CHECK(::recv(p.a, buf, sizeof buf, 0) == -1);
  CHECK(errno == EAGAIN);
  CHECK(seconds_since(start) >= 0.14);
  CHECK(ticker.ticks > 10);
  errno = 0;
  CHECK(::read(p.a, buf, sizeof buf) == -1);
  CHECK(errno == EAGAIN);
  noisy->join();

  // A send that cannot finish: what fitted is returned when SO_SNDTIMEO expires.
  set_timeout(p.a, SO_SNDTIMEO, 100ms);
  std::vector<char> big(8 << 20, 'z');
  const ssize_t n = ::write(p.a, big.data(), big.size());
  CHECK(n > 0);
  CHECK(n < static_cast<ssize_t>(big.size()));
  errno = 0;
  CHECK(::send(p.a, big.data(), big.size(), 0) == -1);  // now the buffer is full
  CHECK(errno == EAGAIN);
}

TEST_CASE("a descriptor the program made non-blocking still says EAGAIN; flags read back as set") {
  Patched patched;
  Pair p;
  char buf[8];
  const int flags = ::fcntl(p.a, F_GETFL);
  CHECK((flags & O_NONBLOCK) == 0);
  ::fcntl(p.a, F_SETFL, flags | O_NONBLOCK);
  errno = 0;
  const auto start = Clock::now();
  CHECK(::read(p.a, buf, sizeof buf) == -1);
  CHECK(errno == EAGAIN);
  CHECK(::recv(p.a, buf, sizeof buf, 0) == -1);
  CHECK(errno == EAGAIN);
  CHECK(seconds_since(start) < 1.0);
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) != 0);
  int off = 0;
  CHECK(::ioctl(p.a, FIONBIO, &off) == 0);  // back to blocking through ioctl
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) == 0);
  int on = 1;
  CHECK(::ioctl(p.b, FIONBIO, &on) == 0);
  CHECK(::recv(p.b, buf, sizeof buf, 0) == -1);
  CHECK(errno == EAGAIN);
  // Non-blocking semantics for partial transfers: what fits is sent at once, what is there is
  // received at once, MSG_WAITALL included.
  {
    std::vector<char> big(8 << 20, 'q');
    const ssize_t sent = ::send(p.b, big.data(), big.size(), 0);
    CHECK(sent > 0);
    CHECK(sent < static_cast<ssize_t>(big.size()));
    CHECK(::write(p.b, big.data(), big.size()) == -1);
    CHECK(errno == EAGAIN);
    ::fcntl(p.a, F_SETFL, ::fcntl(p.a, F_GETFL) | O_NONBLOCK);
    std::vector<char> sink(1 << 20);
    ssize_t drained = 0;
    for (int i = 0; i < 1000 && drained < sent; ++i) {
      const ssize_t n = ::recv(p.a, sink.data(), sink.size(), MSG_WAITALL);
      if (n <= 0) break;
      CHECK(n <= static_cast<ssize_t>(sink.size()));
      drained += n;
    }
    CHECK(drained == sent);
    CHECK(::recv(p.a, sink.data(), sink.size(), MSG_WAITALL) == -1);
    CHECK(errno == EAGAIN);
    ::fcntl(p.a, F_SETFL, ::fcntl(p.a, F_GETFL) & ~O_NONBLOCK);
    ::ioctl(p.b, FIONBIO, &off);
  }
  // Cooperative I/O on a blocking descriptor leaves its flags alone.
  auto w = gev::spawn([&] {
    gev::sleep(20ms);
    ::write(p.b, "hi", 2);
  });
  CHECK(::read(p.a, buf, sizeof buf) == 2);
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) == 0);
  w->join();
}

TEST_CASE("connect on a blocking socket: cooperative, refused, and SO_SNDTIMEO on a full backlog") {
  Patched patched;
  FdBaseline fds;
  {
    int port = 0;
    const int listener = posix_listener(&port, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<uint16_t>(port));
    // Fill the accept queue until a connect times out (proof the queue is full).
    std::vector<int> fillers;
    bool full = false;
    Ticker ticker;
    for (int i = 0; i < 8 && !full; ++i) {
      const int c = ::socket(AF_INET, SOCK_STREAM, 0);
      set_timeout(c, SO_SNDTIMEO, 100ms);
      errno = 0;
      if (::connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        CHECK(errno == EINPROGRESS);  // Linux's answer when SO_SNDTIMEO ends a blocking connect
        full = true;
      }
      CHECK((::fcntl(c, F_GETFL) & O_NONBLOCK) == 0);
      fillers.push_back(c);
    }
    CHECK(full);
    CHECK(ticker.ticks > 5);
    for (int c : fillers) ::close(c);
    ::close(listener);

    // Nothing listens there any more: refused.
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    CHECK(::connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to) == -1);
    CHECK(errno == ECONNREFUSED);
    ::close(c);
  }
  fds.check();
}

TEST_CASE("close() and dup2() from another greenlet wake a parked reader with EBADF") {
  Patched patched;
  FdBaseline fds;
  {
    Pair p;
    int fd = p.a;
    auto closer = gev::spawn([&] {
      gev::sleep(30ms);
      ::close(fd);
    });
    char buf[4];
    errno = 0;
    const auto start = Clock::now();
    CHECK(::read(fd, buf, sizeof buf) == -1);
    CHECK(errno == EBADF);
    CHECK(seconds_since(start) < 2.0);
    closer->join();
    p.a = -1;

    Pair q;
    const int devnull = ::open("/dev/null", O_RDONLY);
    auto duper = gev::spawn([&] {
      gev::sleep(30ms);
      ::dup2(devnull, q.a);  // replaces q.a under the reader
    });
    errno = 0;
    CHECK(::recv(q.a, buf, sizeof buf, 0) == -1);
    CHECK(errno == EBADF);
    duper->join();
    ::close(devnull);
  }
  fds.check();
}

TEST_CASE("a kill or Timeout aimed at a greenlet parked in read() unwinds it cleanly") {
  Patched patched;
  FdBaseline fds;
  {
    Pair p;
    bool unwound = false;
    auto reader = gev::spawn([&] {
      struct Guard {
        bool& flag;
        ~Guard() { flag = true; }
      } guard{unwound};
      char buf[4];
      ::read(p.a, buf, sizeof buf);
    });
    gev::sleep(20ms);
    reader->kill();
    CHECK(reader->ready());
    CHECK(unwound);
    bool timed_out = false;
    try {
      gev::Timeout t(30ms);
      char buf[4];
      ::read(p.a, buf, sizeof buf);
    } catch (const gev::Timeout&) {
      timed_out = true;
    }
    CHECK(timed_out);
    // The descriptor still works afterwards.
    ::write(p.b, "ok", 2);
    char buf[4];
    CHECK(::read(p.a, buf, sizeof buf) == 2);
  }
  fds.check();
}

TEST_CASE("10 MB through write/writev and read/readv on blocking sockets, every byte intact") {
  Patched patched;
  Pair p;
  constexpr size_t kTotal = 10 << 20;
  std::vector<unsigned char> data(kTotal);
  for (size_t i = 0; i < kTotal; ++i) data[i] = static_cast<unsigned char>(i * 131 + (i >> 13));
  auto writer = gev::spawn([&] {
    size_t off = 0;
    // writev with three pieces per call, then plain write for the rest.
    for (int round = 0; round < 2; ++round) {
      iovec v[3] = {{data.data() + off, 1 << 20},
                    {data.data() + off + (1 << 20), 512 << 10},
                    {data.data() + off + (3 << 19), 1 << 20}};
      const ssize_t n = ::writev(p.b, v, 3);
      REQUIRE(n == static_cast<ssize_t>((1 << 20) * 2 + (512 << 10)));
      off += static_cast<size_t>(n);
    }
    const ssize_t n = ::write(p.b, data.data() + off, kTotal - off);
    REQUIRE(n == static_cast<ssize_t>(kTotal - off));
    ::shutdown(p.b, SHUT_WR);
  });
  std::vector<unsigned char> got;
  got.reserve(kTotal);
  unsigned char buf[70000];
  for (int i = 0; i < 100000; ++i) {
    ssize_t n;
    if (i % 2) {
      iovec v[2] = {{buf, 1000}, {buf + 1000, sizeof buf - 1000}};
      n = ::readv(p.a, v, 2);
    } else {
      n = ::read(p.a, buf, sizeof buf);
    }
    REQUIRE(n >= 0);
    if (n == 0) break;
    got.insert(got.end(), buf, buf + n);
  }
  writer->join();
  CHECK(got.size() == kTotal);
  CHECK(got == data);
}

TEST_CASE("MSG_WAITALL waits for the whole count across several sends") {
  Patched patched;
  Pair p;
  auto writer = gev::spawn([&] {
    for (int i = 0; i < 4; ++i) {
      gev::sleep(10ms);
      ::send(p.b, "abcd", 4, 0);
    }
  });
  char buf[16] = {};
  CHECK(::recv(p.a, buf, 16, MSG_WAITALL) == 16);
  CHECK(std::string(buf, 16) == "abcdabcdabcdabcd");
  writer->join();
}

TEST_CASE("pipes: read parks cooperatively; a write above PIPE_BUF arrives whole") {
  Patched patched;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  Ticker ticker;
  constexpr size_t kSize = 1 << 20;
  std::string data(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) data[i] = static_cast<char>('a' + i % 26);
  auto writer = gev::spawn([&] {
    gev::sleep(20ms);
    CHECK(::write(fds[1], data.data(), data.size()) == static_cast<ssize_t>(kSize));
    ::close(fds[1]);
  });
  std::string got;
  char buf[8192];
  const long before = ticker.ticks;
  for (int i = 0; i < 100000; ++i) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    REQUIRE(n >= 0);
    if (n == 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  CHECK(ticker.ticks > before);
  CHECK(got == data);
  writer->join();
  ::close(fds[0]);
}

TEST_CASE("DNS: getaddrinfo, gethostbyname(_r), getnameinfo in greenlets") {
  Patched patched;
  gev::GreenletList gs;
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    gs.push_back(gev::spawn([&] {
      addrinfo hints{};
      hints.ai_family = AF_INET;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      REQUIRE(::getaddrinfo("localhost", "80", &hints, &res) == 0);
      REQUIRE(res != nullptr);
      auto* sin = reinterpret_cast<sockaddr_in*>(res->ai_addr);
      CHECK(ntohl(sin->sin_addr.s_addr) == INADDR_LOOPBACK);
      CHECK(ntohs(sin->sin_port) == 80);
      ::freeaddrinfo(res);
      ++ok;
    }));
  }
  gev::joinall(gs, 20s);
  CHECK(ok == 20);

  addrinfo* res = nullptr;
  CHECK(::getaddrinfo("127.0.0.1", "http", nullptr, &res) == 0);  // numeric: answered in place
  ::freeaddrinfo(res);
  // A 70-character label: glibc rejects it without sending a query (nothing leaves the host).
  const std::string bad(70, 'x');
  res = nullptr;
  CHECK(::getaddrinfo(bad.c_str(), nullptr, nullptr, &res) != 0);
  CHECK(res == nullptr);

  hostent* h = ::gethostbyname("localhost");
  REQUIRE(h != nullptr);
  CHECK(h->h_addrtype == AF_INET);
  REQUIRE(h->h_addr_list[0] != nullptr);
  CHECK(std::memcmp(h->h_addr_list[0], "\x7f\x00\x00\x01", 4) == 0);

  hostent entry{};
  hostent* out = nullptr;
  int herr = 0;
  char tiny[8];
  CHECK(::gethostbyname_r("localhost", &entry, tiny, sizeof tiny, &out, &herr) == ERANGE);
  CHECK(out == nullptr);
  char buf[1024];
  CHECK(::gethostbyname_r("localhost", &entry, buf, sizeof buf, &out, &herr) == 0);
  REQUIRE(out == &entry);
  CHECK(std::string(entry.h_name).find("localhost") != std::string::npos);
  CHECK(std::memcmp(entry.h_addr_list[0], "\x7f\x00\x00\x01", 4) == 0);

  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(80);
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  CHECK(::getnameinfo(reinterpret_cast<sockaddr*>(&a), sizeof a, host, sizeof host, serv,
                      sizeof serv, NI_NUMERICSERV) == 0);
  CHECK(std::string(serv) == "80");
  CHECK(std::string(host).size() > 0);
}

TEST_CASE("OpenSSL's own SSL_connect/SSL_read on a blocking socket inside a greenlet") {
  Patched patched;
  const auto& pki = gev::test::test_pki();
  REQUIRE_MESSAGE(pki.error.empty(), pki.error);
  // The server is gev's own TLS server in this thread: if OpenSSL's reads blocked the thread,
  // the handshake could never finish (SO_RCVTIMEO turns that into a failure after 5 s).
  gev::net::StreamServer server({"127.0.0.1", 0},
                                gev::net::ssl::Context::server(pki.server_cert, pki.server_key),
                                [](gev::net::ssl::Stream& s, const gev::net::Address&) {
                                  char buf[64];
                                  const std::size_t n = s.recv(buf, sizeof buf);
                                  s.sendall(std::string("echo:") + std::string(buf, n));
                                });
  server.start();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  set_timeout(fd, SO_RCVTIMEO, 5000ms);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(server.address().port());
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx != nullptr);
  REQUIRE(SSL_CTX_load_verify_locations(ctx, pki.ca.c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set1_host(ssl, "localhost");
  SSL_set_tlsext_host_name(ssl, "localhost");
  CHECK(SSL_connect(ssl) == 1);
  CHECK(SSL_write(ssl, "hello", 5) == 5);
  char buf[64];
  const int n = SSL_read(ssl, buf, sizeof buf);
  CHECK(n == 10);
  if (n > 0) CHECK(std::string(buf, static_cast<size_t>(n)) == "echo:hello");
  SSL_shutdown(ssl);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  server.stop(5s);
}

TEST_CASE("outside greenlets (a thread without a hub) the calls are plain libc") {
  Patched patched;
  Pair p;
  std::atomic<bool> ok{false};
  std::thread t([&] {
    CHECK(gev::Hub::current_if_exists() == nullptr);
    // Blocks this thread for real until the main thread writes.
    char buf[8];
    const ssize_t n = ::read(p.a, buf, sizeof buf);
    CHECK(n == 3);
    // SO_RCVTIMEO enforced by the kernel, errno as libc sets it.
    set_timeout(p.a, SO_RCVTIMEO, 50ms);
    errno = 0;
    CHECK(::recv(p.a, buf, sizeof buf, 0) == -1);
    CHECK(errno == EAGAIN);
    const auto start = Clock::now();
    CHECK(::usleep(30'000) == 0);
    CHECK(seconds_since(start) >= 0.025);
    pollfd pf{p.a, POLLIN, 0};
    CHECK(::poll(&pf, 1, 20) == 0);
    CHECK(gev::Hub::current_if_exists() == nullptr);  // nothing created a hub on the way
    ok = true;
  });
  gev::sleep(50ms);
  CHECK(::write(p.b, "abc", 3) == 3);
  t.join();
  CHECK(ok);
}

TEST_CASE("descriptors up to the process limit, and dup'd descriptors keep their options") {
  Patched patched;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  const int high = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20)) - 1;
  Pair p;
  REQUIRE(::dup2(p.a, high) == high);
  auto writer = gev::spawn([&] {
    gev::sleep(20ms);
    ::write(p.b, "hi", 2);
  });
  char buf[4];
  CHECK(::read(high, buf, sizeof buf) == 2);  // parked on the highest descriptor there can be
  writer->join();
  auto closer = gev::spawn([&] {
    gev::sleep(20ms);
    ::close(high);
  });
  errno = 0;
  CHECK(::read(high, buf, sizeof buf) == -1);
  CHECK(errno == EBADF);
  closer->join();

  // A dup shares the socket: the timeout set through one applies through the other.
  set_timeout(p.a, SO_RCVTIMEO, 60ms);
  const int copy = ::dup(p.a);
  REQUIRE(copy >= 0);
  errno = 0;
  const auto start = Clock::now();
  CHECK(::recv(copy, buf, sizeof buf, 0) == -1);
  CHECK(errno == EAGAIN);
  CHECK(seconds_since(start) >= 0.05);
  CHECK((::fcntl(copy, F_GETFL) & O_NONBLOCK) == 0);
  ::close(copy);
}

#ifndef __SANITIZE_ADDRESS__  // an ASan program refuses a preloaded library ahead of its runtime
TEST_CASE("LD_PRELOAD=libgev_monkey.so GEV_MONKEY=1 patches a program not linked with it") {
  const std::string probe = GEV_MONKEY_PRELOAD_PROBE;
  std::string out;
  CHECK(gev::test::run_shell(probe, &out) == 0);
  CHECK(out.find("blocked") != std::string::npos);  // on its own: plain libc
  out.clear();
  CHECK(gev::test::run_shell(
            "LD_PRELOAD=" + std::string(GEV_MONKEY_LIBRARY) + " GEV_MONKEY=1 " + probe, &out) == 0);
  CHECK(out.find("cooperative") != std::string::npos);
  MESSAGE(out);
}
#endif

TEST_CASE("in the hub's own callbacks and through original::, calls are plain libc") {
  Patched patched;
  Pair p;
  Ticker ticker;
  // original::usleep blocks the whole thread: the ticker cannot run meanwhile.
  gev::sleep(10ms);
  const long before = ticker.ticks;
  gev::monkey::original::usleep(30'000);
  CHECK(ticker.ticks == before);
  set_timeout(p.a, SO_RCVTIMEO, 30ms);
  char c;
  errno = 0;
  CHECK(gev::monkey::original::read(p.a, &c, 1) == -1);  // the kernel's timeout, not a park
  CHECK(errno == EAGAIN);
  CHECK(ticker.ticks == before);

  // A hub callback cannot park: there the hooks call libc directly.
  bool ran = false;
  ssize_t got = 0;
  int err = 0;
  gev::Hub::current().call_soon([&] {
    ran = true;
    char buf[4];
    got = ::read(p.a, buf, sizeof buf);  // nothing there: the kernel's 30 ms timeout
    err = errno;
  });
  gev::sleep(100ms);
  CHECK(ran);
  CHECK(got == -1);
  CHECK(err == EAGAIN);
}

TEST_CASE("shutdown() and close() under parked greenlets: the kernel's answers, promptly") {
  Patched patched;
  Pair p;
  // shutdown(SHUT_RD) from another greenlet: the parked read returns 0 (end of file).
  auto shutter = gev::spawn([&] {
    gev::sleep(20ms);
    ::shutdown(p.a, SHUT_RD);
  });
  char buf[4];
  const auto start = Clock::now();
  CHECK(::read(p.a, buf, sizeof buf) == 0);
  CHECK(seconds_since(start) < 2.0);
  shutter->join();

  // close() of a descriptor another greenlet polls: poll wakes and reports POLLNVAL.
  Pair q;
  auto closer = gev::spawn([&] {
    gev::sleep(20ms);
    ::close(q.a);
  });
  pollfd pf{q.a, POLLIN, 0};
  CHECK(::poll(&pf, 1, 5000) == 1);
  CHECK(pf.revents == POLLNVAL);
  closer->join();
  q.a = -1;
}

TEST_CASE("MSG_WAITALL on datagrams and with MSG_PEEK is one call; a failing dup2 wakes nobody") {
  Patched patched;
  int d[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM, 0, d) == 0);
  ::send(d[1], "abc", 3, 0);
  ::send(d[1], "def", 3, 0);
  char buf[16] = {};
  CHECK(::recv(d[0], buf, sizeof buf, MSG_WAITALL) == 3);  // one datagram, as libc gives
  CHECK(std::string(buf, 3) == "abc");
  ::close(d[0]);
  ::close(d[1]);

  Pair p;
  ::send(p.b, "xyz", 3, 0);
  CHECK(::recv(p.a, buf, 3, MSG_PEEK | MSG_WAITALL) == 3);
  CHECK(std::string(buf, 3) == "xyz");
  CHECK(::recv(p.a, buf, 3, 0) == 3);

  // dup2 from a closed descriptor fails with EBADF and leaves the reader parked.
  bool read_done = false;
  auto reader = gev::spawn([&] {
    char c;
    CHECK(::read(p.a, &c, 1) == 1);
    read_done = true;
  });
  gev::sleep(10ms);
  errno = 0;
  CHECK(::dup2(1 << 20, p.a) == -1);
  CHECK(errno == EBADF);
  gev::sleep(10ms);
  CHECK_FALSE(read_done);
  ::write(p.b, "!", 1);
  CHECK(reader->join(5s));
  CHECK(read_done);
}

TEST_CASE("poll for hang-up only, POLLRDHUP and urgent data; select on exceptfds") {
  Patched patched;
  // events 0: only POLLHUP/POLLERR can be reported; the peer's close must wake the poll.
  for (short events : {short(0), short(POLLRDHUP)}) {
    CAPTURE(events);
    Pair p;
    auto closer = gev::spawn([&] {
      gev::sleep(30ms);
      ::close(p.b);
      p.b = -1;
    });
    pollfd pf{p.a, events, 0};
    const auto start = Clock::now();
    CHECK(::poll(&pf, 1, 5000) == 1);
    CHECK((pf.revents & (POLLHUP | POLLRDHUP)) != 0);
    CHECK(seconds_since(start) < 2.0);
    closer->join();
  }
  // Urgent (out-of-band) TCP data: POLLPRI, and select's exceptfds.
  int port = 0;
  const int listener = posix_listener(&port);
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  const int s = ::accept(listener, nullptr, nullptr);
  REQUIRE(s >= 0);
  auto urgent = gev::spawn([&] {
    gev::sleep(30ms);
    ::send(c, "!", 1, MSG_OOB);
  });
  pollfd pf{s, POLLPRI, 0};
  CHECK(::poll(&pf, 1, 5000) == 1);
  CHECK((pf.revents & POLLPRI) != 0);
  urgent->join();
  char oob;
  CHECK(::recv(s, &oob, 1, MSG_OOB) == 1);
  auto urgent2 = gev::spawn([&] {
    gev::sleep(30ms);
    ::send(c, "?", 1, MSG_OOB);
  });
  fd_set x;
  FD_ZERO(&x);
  FD_SET(s, &x);
  timeval tv{5, 0};
  CHECK(::select(s + 1, nullptr, nullptr, &x, &tv) == 1);
  CHECK(FD_ISSET(s, &x));
  urgent2->join();
  ::close(s);
  ::close(c);
  ::close(listener);
}
