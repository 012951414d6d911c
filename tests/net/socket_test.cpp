// net::Socket on loopback: echo with 1000 concurrent clients (IPv4, IPv6, Unix), refused and
// timed-out connects, peer reset, half-close, 10 MB integrity, timeouts and non-blocking mode,
// one waiter per direction, close/kill/Timeout while parked, UDP, socketpair, and the
// descriptor count back at its baseline after every case.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "net/net_support.hpp"

using namespace std::chrono_literals;
using gev::net::Address;
using gev::net::Socket;
using gev::test::catch_system_error;
using gev::test::echo_once;
using gev::test::FdBaseline;
using gev::test::make_listener;
using gev::test::read_to_eof;
using gev::test::wait_until;

static_assert(std::is_base_of_v<std::system_error, gev::net::timeout>);
static_assert(std::is_nothrow_move_constructible_v<Socket>);

namespace {

using Clock = std::chrono::steady_clock;

// Accept loop in a greenlet, one echoing handler greenlet per connection.
struct EchoServer {
  Socket listener;
  Address address;
  std::shared_ptr<gev::Greenlet<void>> acceptor;
  std::vector<gev::GreenletRef> handlers;
  int accepted = 0;
  int live = 0;
  int max_live = 0;

  explicit EchoServer(Socket l) : listener(std::move(l)) {
    address = listener.local_address();
    acceptor = gev::spawn([this] {
      for (int i = 0; i < 100000; ++i) {
        auto conn = std::make_shared<Socket>(listener.accept());
        ++accepted;
        handlers.push_back(gev::spawn([this, conn] {
          ++live;
          if (live > max_live) max_live = live;
          char buf[4096];
          for (int j = 0; j < 1000000; ++j) {
            std::size_t n = conn->recv(buf, sizeof buf);
            if (n == 0) break;
            conn->sendall(buf, n);
          }
          --live;
        }));
      }
    });
  }
  void stop() {
    acceptor->kill();
    gev::killall(handlers);
    listener.close();
  }
};

// A connected TCP pair on 127.0.0.1: {client, server side}.
std::pair<Socket, Socket> tcp_pair() {
  Socket listener = make_listener();
  Socket client(AF_INET, SOCK_STREAM);
  client.connect(listener.local_address());
  Socket server = listener.accept();
  return {std::move(client), std::move(server)};
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/gev-net-XXXXXX";
  char* dir = mkdtemp(tmpl);
  REQUIRE(dir != nullptr);
  return dir;
}

void run_echo_clients(const Address& server, int clients, EchoServer& srv) {
  gev::Event go;
  int connected = 0;
  std::vector<std::shared_ptr<gev::Greenlet<bool>>> jobs;
  for (int i = 0; i < clients; ++i) {
    jobs.push_back(gev::spawn([&, i]() -> bool {
      Socket s(server.family(), SOCK_STREAM);
      s.connect(server);
      ++connected;
      if (!go.wait(30s)) return false;
      std::string msg = "client " + std::to_string(i) + " " + std::string(i % 300, 'a' + i % 26);
      return echo_once(s, msg) == msg;
    }));
  }
  CHECK(wait_until([&] { return connected == clients; }, 30s));
  // Every client is connected before anyone sends: all sockets are open at once.
  CHECK(wait_until([&] { return srv.accepted == clients; }, 30s));
  go.set();
  gev::joinall(jobs, 60s);
  int ok = 0;
  for (auto& j : jobs) {
    if (j->ready() && j->value().value_or(false)) ++ok;
    if (j->ready() && !j->successful())
      MESSAGE("client failed: " << gev::test::what_of(j->exception()));
  }
  CHECK(ok == clients);
  CHECK(srv.max_live == clients);
}

}  // namespace

TEST_CASE("echo: 1000 concurrent greenlet clients over IPv4") {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 2200 && rl.rlim_max >= 2200) {
    rl.rlim_cur = 2200;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  FdBaseline fds;
  {
    EchoServer srv(make_listener("127.0.0.1", 1024));
    CHECK(srv.address.to_string().rfind("127.0.0.1:", 0) == 0);
    run_echo_clients(srv.address, 1000, srv);
    srv.stop();
  }
  fds.check();
}

TEST_CASE("echo over IPv6 ::1 and create_connection") {
  FdBaseline fds;
  {
    EchoServer srv(make_listener("::1"));
    CHECK(srv.address.family() == AF_INET6);
    run_echo_clients(srv.address, 20, srv);
    Socket c = gev::net::create_connection("::1", srv.address.port(), 5s);
    CHECK(c.gettimeout() == std::optional<gev::Duration>(5s));
    CHECK(c.peer_address() == srv.address);
    CHECK(echo_once(c, "v6 hello") == "v6 hello");
    c.close();
    srv.stop();
  }
  fds.check();
}

TEST_CASE("echo over a Unix socket in a temporary directory") {
  FdBaseline fds;
  std::string dir = make_temp_dir();
  std::string path = dir + "/echo.sock";
  {
    Socket l(AF_UNIX, SOCK_STREAM);
    l.bind(Address::unix_path(path));
    l.listen(64);
    CHECK(l.local_address().to_string() == "unix:" + path);
    EchoServer srv(std::move(l));
    run_echo_clients(Address::unix_path(path), 50, srv);
    srv.stop();
  }
  unlink(path.c_str());
  rmdir(dir.c_str());
  fds.check();
}

TEST_CASE("create_connection with a numeric host and a source address") {
  FdBaseline fds;
  {
    EchoServer srv(make_listener());
    Socket c =
        gev::net::create_connection("127.0.0.1", srv.address.port(), 5s, Address{"127.0.0.1", 0});
    CHECK(c.local_address().host() == "127.0.0.1");
    CHECK(c.peer_address() == srv.address);
    CHECK(echo_once(c, "hello") == "hello");
    c.close();
    srv.stop();
  }
  fds.check();
}

TEST_CASE("create_connection(\"localhost\") tries each resolved address") {
  (void)gev::net::resolve("localhost", 1);  // warm the resolver's thread pool before the baseline
  FdBaseline fds;
  {
    EchoServer srv(make_listener("127.0.0.1"));
    Socket c = gev::net::create_connection("localhost", srv.address.port(), 5s);
    CHECK(echo_once(c, "via name") == "via name");
    c.close();
    srv.stop();
  }
  fds.check();
}

TEST_CASE("connect refused: system_error ECONNREFUSED naming the address") {
  FdBaseline fds;
  {
    Address gone;
    {
      Socket l = make_listener();
      gone = l.local_address();
    }  // closed: nothing listens on that port now
    Socket c(AF_INET, SOCK_STREAM);
    auto err = catch_system_error([&] { c.connect(gone); });
    CHECK(err.thrown);
    CHECK(err.code == ECONNREFUSED);
    CHECK(err.what.find(gone.to_string()) != std::string::npos);
    CHECK(err.what.find("connect") != std::string::npos);
    MESSAGE("refused: " << err.what);

    auto err2 = catch_system_error(
        [&] { (void)gev::net::create_connection("127.0.0.1", gone.port(), 2s); });
    CHECK(err2.thrown);
    CHECK_FALSE(err2.is_net_timeout);
    CHECK(err2.code == ECONNREFUSED);
  }
  fds.check();
}

// With listen(0) the accept queue holds one connection; once it is full Linux drops further
// SYNs (tcp_abort_on_overflow=0), so a connect stays in SYN_SENT until its timeout. The fill
// loop connects with a short timeout until one attempt times out (that proves the queue is
// full), at most 8 times, so the final assertion does not depend on the exact queue length.
TEST_CASE("connect timeout against a listener whose backlog is full") {
  FdBaseline fds;
  {
    Socket l = make_listener("127.0.0.1", 0);
    Address target = l.local_address();
    std::vector<Socket> fillers;
    bool full = false;
    for (int i = 0; i < 8 && !full; ++i) {
      Socket c(AF_INET, SOCK_STREAM);
      c.settimeout(100ms);
      try {
        c.connect(target);
      } catch (const gev::net::timeout&) {
        full = true;
      }
      fillers.push_back(std::move(c));
    }
    REQUIRE(full);
    Socket c(AF_INET, SOCK_STREAM);
    c.settimeout(200ms);
    auto start = Clock::now();
    auto err = catch_system_error([&] { c.connect(target); });
    auto took = Clock::now() - start;
    CHECK(err.thrown);
    CHECK(err.is_net_timeout);
    CHECK(err.code == ETIMEDOUT);
    CHECK(took >= 150ms);
    CHECK(took < 5s);
    MESSAGE("connect timeout: " << err.what);

    auto err2 = catch_system_error(
        [&] { (void)gev::net::create_connection("127.0.0.1", target.port(), 200ms); });
    CHECK(err2.is_net_timeout);
  }
  fds.check();
}

TEST_CASE("peer reset mid-read: recv throws ECONNRESET") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    std::size_t first = 0;
    gev::test::CaughtError err;
    std::string got;
    auto reader = gev::spawn([&] {
      char buf[64];
      first = client.recv(buf, sizeof buf);
      got.assign(buf, first);
      err = catch_system_error([&] { (void)client.recv(buf, sizeof buf); });
    });
    server.sendall("hello");
    CHECK(wait_until([&] { return first > 0; }));
    gev::sleep(20ms);  // the reader is parked in its second recv
    linger lg{1, 0};
    server.setsockopt(SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    server.close();
    CHECK(reader->join(5s));
    CHECK(got == "hello");
    CHECK(err.thrown);
    CHECK(err.code == ECONNRESET);  // what Linux does: the RST surfaces as ECONNRESET
    CHECK(err.what.find("recv") != std::string::npos);
    MESSAGE("reset: " << err.what);
  }
  fds.check();
}

TEST_CASE("half-close: shutdown(SHUT_WR), the peer reads EOF and still replies") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    auto srv = gev::spawn([&server] {
      std::string request = read_to_eof(server);
      server.sendall("got:" + request);
      server.close();
    });
    client.sendall("request body");
    client.shutdown(SHUT_WR);
    CHECK(read_to_eof(client) == "got:request body");
    CHECK(srv->join(5s));
    CHECK(srv->successful());
    // Writing after SHUT_WR fails with EPIPE.
    auto err = catch_system_error([&] { client.sendall("late"); });
    CHECK(err.thrown);
    CHECK(err.code == EPIPE);
  }
  fds.check();
}

TEST_CASE("10 MB transfer integrity between two greenlets") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    const std::size_t size = 10u << 20;
    std::vector<unsigned char> data(size);
    std::uint32_t x = 2463534242u;
    for (auto& b : data) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      b = static_cast<unsigned char>(x);
    }
    auto fnv = [](std::uint64_t h, const unsigned char* p, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
      return h;
    };
    const std::uint64_t expected = fnv(14695981039346656037ull, data.data(), size);
    auto sender = gev::spawn([&] {
      client.sendall(data.data(), data.size());
      client.shutdown(SHUT_WR);
    });
    auto receiver = gev::spawn([&]() -> std::pair<std::size_t, std::uint64_t> {
      std::uint64_t h = 14695981039346656037ull;
      std::size_t total = 0;
      std::vector<unsigned char> buf(65536);
      for (std::size_t i = 0; i <= size; ++i) {
        std::size_t n = server.recv(buf.data(), buf.size());
        if (n == 0) break;
        h = fnv(h, buf.data(), n);
        total += n;
      }
      return {total, h};
    });
    CHECK(sender->join(60s));
    CHECK(receiver->join(60s));
    REQUIRE(receiver->successful());
    REQUIRE(sender->successful());
    CHECK(receiver->value()->first == size);
    CHECK(receiver->value()->second == expected);
  }
  fds.check();
}

TEST_CASE("recv timeout throws net::timeout and the socket stays usable") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    client.settimeout(100ms);
    CHECK(client.gettimeout() == std::optional<gev::Duration>(100ms));
    char buf[16];
    auto start = Clock::now();
    CHECK_THROWS_AS((void)client.recv(buf, sizeof buf), gev::net::timeout);
    auto took = Clock::now() - start;
    CHECK(took >= 80ms);
    CHECK(took < 5s);
    auto err = catch_system_error([&] { (void)client.recv(buf, sizeof buf); });
    CHECK(err.is_net_timeout);
    CHECK(err.code == ETIMEDOUT);
    server.sendall("late");
    CHECK(client.recv(buf, sizeof buf) == 4);

    // accept honours the listener's timeout too
    Socket l = make_listener();
    l.settimeout(50ms);
    CHECK_THROWS_AS((void)l.accept(), gev::net::timeout);
  }
  fds.check();
}

TEST_CASE("sendall to a peer that never reads: net::timeout") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    client.setsockopt(SOL_SOCKET, SO_SNDBUF, 16384);
    server.setsockopt(SOL_SOCKET, SO_RCVBUF, 16384);
    client.settimeout(200ms);
    std::string big(64u << 20, 'z');
    auto start = Clock::now();
    CHECK_THROWS_AS(client.sendall(big), gev::net::timeout);
    auto took = Clock::now() - start;
    CHECK(took >= 150ms);
    CHECK(took < 10s);
  }
  fds.check();
}

// A slow reader keeps every single wait short; only one deadline for the whole buffer makes
// sendall time out (a per-wait timeout would let it run for a very long time).
TEST_CASE("sendall: one deadline for the whole buffer, even with a slowly reading peer") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    client.setsockopt(SOL_SOCKET, SO_SNDBUF, 16384);
    server.setsockopt(SOL_SOCKET, SO_RCVBUF, 16384);
    bool stop = false;
    std::size_t drained = 0;
    auto reader = gev::spawn([&] {
      char buf[4096];
      for (int i = 0; i < 100000 && !stop; ++i) {
        gev::sleep(10ms);
        std::size_t n = server.recv(buf, sizeof buf);
        if (n == 0) break;
        drained += n;
      }
    });
    client.settimeout(300ms);
    std::string big(32u << 20, 'q');  // ~80 s at 4 KB per 10 ms
    auto start = Clock::now();
    CHECK_THROWS_AS(client.sendall(big), gev::net::timeout);
    auto took = Clock::now() - start;
    CHECK(took < 10s);
    CHECK(drained > 0);
    stop = true;
    client.close();
    CHECK(reader->join(5s));
  }
  fds.check();
}

TEST_CASE("non-blocking mode: settimeout(0s) / setblocking(false) throw EAGAIN") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    client.settimeout(0s);
    char buf[16];
    auto err = catch_system_error([&] { (void)client.recv(buf, sizeof buf); });
    CHECK(err.thrown);
    CHECK_FALSE(err.is_net_timeout);
    CHECK((err.code == EAGAIN || err.code == EWOULDBLOCK));

    client.settimeout(std::nullopt);
    CHECK_FALSE(client.gettimeout().has_value());
    client.setblocking(false);
    CHECK(client.gettimeout() == std::optional<gev::Duration>(0s));
    auto err2 = catch_system_error([&] { (void)client.recv(buf, sizeof buf); });
    CHECK((err2.code == EAGAIN || err2.code == EWOULDBLOCK));
    client.setblocking(true);
    CHECK_FALSE(client.gettimeout().has_value());

    // Data already there: a non-blocking recv returns it.
    server.sendall("now");
    client.setblocking(false);
    CHECK(wait_until([&] {
      try {
        return client.recv(buf, sizeof buf) == 3;
      } catch (const std::system_error&) {
        return false;
      }
    }));

    // accept on a non-blocking listener with nothing pending
    Socket l = make_listener();
    l.setblocking(false);
    auto err3 = catch_system_error([&] { (void)l.accept(); });
    CHECK((err3.code == EAGAIN || err3.code == EWOULDBLOCK));
  }
  fds.check();
}

TEST_CASE("one waiter per direction: a second reader gets ConcurrentObjectUseError") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    std::string first;
    auto a = gev::spawn([&] {
      char buf[16];
      std::size_t n = client.recv(buf, sizeof buf);
      first.assign(buf, n);
    });
    gev::sleep(10ms);  // a is parked in recv
    bool second_failed = false;
    auto b = gev::spawn([&] {
      char buf[16];
      try {
        (void)client.recv(buf, sizeof buf);
      } catch (const gev::ConcurrentObjectUseError& e) {
        second_failed = true;
        std::string what = e.what();
        CHECK(what.find("read") != std::string::npos);
        MESSAGE("concurrent use: " << what);
      }
    });
    CHECK(b->join(5s));
    CHECK(second_failed);
    // A writer may park while a reader is parked: one waiter per direction, not per socket.
    client.setsockopt(SOL_SOCKET, SO_SNDBUF, 16384);
    server.setsockopt(SOL_SOCKET, SO_RCVBUF, 16384);
    std::string big(4u << 20, 'w');
    auto writer = gev::spawn([&] { client.sendall(big); });
    gev::sleep(20ms);
    CHECK_FALSE(writer->ready());  // parked: the peer is not reading yet
    bool second_writer_failed = false;
    auto w2 = gev::spawn([&] {
      try {
        client.sendall("x");
      } catch (const gev::ConcurrentObjectUseError&) {
        second_writer_failed = true;
      }
    });
    CHECK(w2->join(5s));
    CHECK(second_writer_failed);
    // Drain the writer, then wake the reader.
    std::size_t drained = 0;
    std::vector<char> buf(65536);
    for (int i = 0; i < 1000000 && drained < big.size(); ++i)
      drained += server.recv(buf.data(), buf.size());
    CHECK(drained == big.size());
    CHECK(writer->join(5s));
    CHECK(writer->successful());
    server.sendall("ping");
    CHECK(a->join(5s));
    CHECK(first == "ping");
  }
  fds.check();
}

TEST_CASE("close() from another greenlet wakes a parked recv with EBADF promptly") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    gev::test::CaughtError err;
    auto reader = gev::spawn([&] {
      char buf[16];
      err = catch_system_error([&] { (void)client.recv(buf, sizeof buf); });
    });
    gev::sleep(10ms);
    CHECK_FALSE(reader->ready());
    auto start = Clock::now();
    client.close();
    CHECK_FALSE(client.is_open());
    CHECK(client.fileno() == -1);
    CHECK(reader->join(5s));
    CHECK(Clock::now() - start < 2s);
    CHECK(err.thrown);
    CHECK(err.code == EBADF);
    client.close();  // idempotent
    // Operations on a closed socket fail with EBADF.
    char buf[4];
    auto err2 = catch_system_error([&] { (void)client.recv(buf, sizeof buf); });
    CHECK(err2.code == EBADF);
    // The peer sees EOF.
    CHECK(read_to_eof(server).empty());
  }
  fds.check();
}

TEST_CASE("close() wakes a parked accept and a parked sendall") {
  FdBaseline fds;
  {
    Socket l = make_listener();
    gev::test::CaughtError err;
    auto acceptor = gev::spawn([&] { err = catch_system_error([&] { (void)l.accept(); }); });
    gev::sleep(10ms);
    l.close();
    CHECK(acceptor->join(5s));
    CHECK(err.code == EBADF);

    auto [client, server] = tcp_pair();
    client.setsockopt(SOL_SOCKET, SO_SNDBUF, 16384);
    server.setsockopt(SOL_SOCKET, SO_RCVBUF, 16384);
    std::string big(16u << 20, 's');
    gev::test::CaughtError werr;
    auto writer = gev::spawn([&] { werr = catch_system_error([&] { client.sendall(big); }); });
    gev::sleep(20ms);
    client.close();
    CHECK(writer->join(5s));
    CHECK(werr.code == EBADF);
  }
  fds.check();
}

TEST_CASE("kill while parked in recv leaves the socket usable") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    auto reader = gev::spawn([&] {
      char buf[16];
      (void)client.recv(buf, sizeof buf);
    });
    gev::sleep(10ms);
    CHECK(reader->kill());
    CHECK(reader->successful());
    server.sendall("after kill");
    char buf[32];
    std::string got;
    auto second = gev::spawn([&] {
      std::size_t n = client.recv(buf, sizeof buf);
      got.assign(buf, n);
    });
    CHECK(second->join(5s));
    CHECK(second->successful());
    CHECK(got == "after kill");
  }
  fds.check();
}

TEST_CASE("gev::Timeout while parked in recv leaves the socket usable") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    char buf[32];
    bool timed_out = false;
    {
      gev::Timeout t{50ms};
      try {
        (void)client.recv(buf, sizeof buf);
      } catch (const gev::Timeout& e) {
        timed_out = e.is(t);
      }
    }
    CHECK(timed_out);
    // No stray wake-ups later from the old watcher; a later recv works.
    gev::sleep(20ms);
    auto later = gev::spawn_later(20ms, [&] { server.sendall("fine"); });
    std::size_t n = client.recv(buf, sizeof buf);
    CHECK(std::string(buf, n) == "fine");
    CHECK(later->join(5s));
  }
  fds.check();
}

TEST_CASE("other greenlets keep running while one is parked in recv") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    int ticks = 0;
    bool done = false;
    auto ticker = gev::spawn([&] {
      for (int i = 0; i < 100000 && !done; ++i) {
        ++ticks;
        gev::sleep(1ms);
      }
    });
    int ticks_when_woken = -1;
    auto reader = gev::spawn([&] {
      char buf[8];
      (void)client.recv(buf, sizeof buf);
      ticks_when_woken = ticks;
    });
    CHECK(wait_until([&] { return ticks >= 20; }));
    CHECK_FALSE(reader->ready());
    server.sendall("x");
    CHECK(reader->join(5s));
    CHECK(ticks_when_woken >= 20);
    done = true;
    CHECK(ticker->join(5s));
  }
  fds.check();
}

TEST_CASE("UDP sendto/recvfrom on loopback (IPv4 and IPv6)") {
  FdBaseline fds;
  for (const char* host : {"127.0.0.1", "::1"}) {
    CAPTURE(host);
    Address any{host, 0};
    Socket a(any.family(), SOCK_DGRAM);
    Socket b(any.family(), SOCK_DGRAM);
    a.bind(any);
    b.bind(any);
    Address a_addr = a.local_address();
    Address b_addr = b.local_address();
    std::string got;
    Address from;
    auto receiver = gev::spawn([&] {
      char buf[256];
      std::size_t n = b.recvfrom(buf, sizeof buf, from);
      got.assign(buf, n);
    });
    gev::sleep(5ms);  // parked in recvfrom
    CHECK(a.sendto("datagram", 8, b_addr) == 8);
    CHECK(receiver->join(5s));
    CHECK(got == "datagram");
    CHECK(from == a_addr);
    // Reply to the sender's address.
    CHECK(b.sendto("reply", 5, from) == 5);
    char buf[16];
    Address from2;
    a.settimeout(5s);
    std::size_t n = a.recvfrom(buf, sizeof buf, from2);
    CHECK(std::string(buf, n) == "reply");
    CHECK(from2 == b_addr);
    // recvfrom timeout
    a.settimeout(50ms);
    CHECK_THROWS_AS((void)a.recvfrom(buf, sizeof buf, from2), gev::net::timeout);
  }
  fds.check();
}

TEST_CASE("socketpair works both ways (stream and datagram)") {
  FdBaseline fds;
  {
    auto [x, y] = gev::net::socketpair();
    CHECK(x.is_open());
    CHECK(y.is_open());
    CHECK(echo_once(x, "") == "");
    std::string got_y, got_x;
    auto gy = gev::spawn([&, &y = y] {
      char buf[32];
      std::size_t n = y.recv(buf, sizeof buf);
      got_y.assign(buf, n);
      y.sendall("pong");
    });
    gev::sleep(5ms);
    x.sendall("ping");
    char buf[32];
    std::size_t n = x.recv(buf, sizeof buf);
    got_x.assign(buf, n);
    CHECK(gy->join(5s));
    CHECK(got_y == "ping");
    CHECK(got_x == "pong");
    // Descriptors are non-blocking at the OS level.
    CHECK((fcntl(x.fileno(), F_GETFL) & O_NONBLOCK) != 0);

    auto [d1, d2] = gev::net::socketpair(AF_UNIX, SOCK_DGRAM);
    d1.sendall("one");
    n = d2.recv(buf, sizeof buf);
    CHECK(std::string(buf, n) == "one");
    d2.sendall("two");
    n = d1.recv(buf, sizeof buf);
    CHECK(std::string(buf, n) == "two");
  }
  fds.check();
}

TEST_CASE("adopt, release, move, options and addresses") {
  FdBaseline fds;
  {
    auto [client, server] = tcp_pair();
    CHECK(client.peer_address() == server.local_address());
    CHECK(server.peer_address() == client.local_address());
    client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    CHECK(client.getsockopt_int(IPPROTO_TCP, TCP_NODELAY) != 0);
    CHECK(client.pending_error() == 0);

    Socket moved = std::move(client);
    CHECK_FALSE(client.is_open());
    CHECK(moved.is_open());
    CHECK(echo_once(moved, "") == "");
    server.sendall("m");
    char buf[4];
    CHECK(moved.recv(buf, sizeof buf) == 1);

    int raw = moved.release();
    CHECK_FALSE(moved.is_open());
    CHECK(raw >= 0);
    Socket adopted = Socket::adopt(raw);
    CHECK(adopted.fileno() == raw);
    CHECK((fcntl(raw, F_GETFL) & O_NONBLOCK) != 0);
    server.sendall("a");
    CHECK(adopted.recv(buf, sizeof buf) == 1);

    Socket empty;
    CHECK_FALSE(empty.is_open());
    CHECK_FALSE(static_cast<bool>(empty));
    empty.close();
  }
  fds.check();
}
