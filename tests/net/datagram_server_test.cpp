// net::DatagramServer on loopback: echo over IPv4, IPv6 and Unix datagram sockets (pooled and
// inline handlers), 200 concurrent greenlet clients, max_handlers, a throwing handler, stop()
// with finishing and stuck handlers (pooled and inline), stop() from inside a handler, a
// concurrent stop() taking over a killed or timed-out one, the port
// free after stop(), oversize datagrams dropped and reported, ICMP errors (connected socket and
// IP_RECVERR) surviving without spinning, Python as a real peer, reuse_address/reuse_port,
// argument checks and the destructor. The descriptor count is back at its baseline after every
// case, and every wait is bounded.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gev/net/datagram_server.hpp>
#include <gev/runtime/timeout.hpp>

#include "net/net_support.hpp"

extern char** environ;

using namespace std::chrono_literals;
using gev::net::Address;
using gev::net::DatagramServer;
using gev::net::DatagramTooLarge;
using gev::net::Socket;
using gev::test::catch_system_error;
using gev::test::FdBaseline;
using gev::test::wait_until;

namespace {

using Clock = std::chrono::steady_clock;
using gev::Duration;

void echo(std::string_view data, const Address& from, DatagramServer& server) {
  server.sendto(data, from);
}

// A datagram client on the loopback address of the server's family (so that local_address()
// is what the server sees).
Socket client_for(const DatagramServer& server, Duration timeout = 10s) {
  const int family = server.address().family();
  Socket c(family, SOCK_DGRAM);
  c.settimeout(timeout);
  c.bind(Address{family == AF_INET6 ? "::1" : "127.0.0.1", 0});
  return c;
}

// Sends `message` to `to` and returns the reply (and who sent it).
std::string request(Socket& c, const Address& to, std::string_view message,
                    Address* replier = nullptr) {
  c.sendto(message.data(), message.size(), to);
  static thread_local std::vector<char> buf(200'000);
  Address from;
  std::size_t n = c.recvfrom(buf.data(), buf.size(), from);
  if (replier) *replier = from;
  return std::string(buf.data(), n);
}

// True if no datagram arrives within `quiet`.
bool nothing_arrives(Socket& c, Duration quiet) {
  const auto old = c.gettimeout();
  c.settimeout(quiet);
  char buf[64];
  Address from;
  auto r = catch_system_error([&] { c.recvfrom(buf, sizeof buf, from); });
  c.settimeout(old);
  return r.thrown && r.is_net_timeout;
}

bool ipv6_loopback_available() {
  try {
    Socket s(AF_INET6, SOCK_DGRAM);
    s.bind(Address{"::1", 0});
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// An address nobody listens on: a port bound, read, then released.
Address dead_address() {
  Socket s(AF_INET, SOCK_DGRAM);
  s.bind(Address{"127.0.0.1", 0});
  return s.local_address();
}

std::string temp_socket_path(const char* tag) {
  return "/tmp/gev-dgram-test-" + std::to_string(getpid()) + "-" + tag + ".sock";
}

// Runs argv (searched in PATH) with stdout and stderr captured; blocks the calling OS thread.
struct ProcessResult {
  int status = -1;
  std::string output;
};
ProcessResult run_process(std::vector<std::string> args) {
  ProcessResult r;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return r;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int err = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (err != 0) {
    close(out[0]);
    r.output = "posix_spawnp " + args[0] + " failed: " + std::to_string(err);
    return r;
  }
  char buf[4096];
  for (int i = 0; i < 100000; ++i) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n > 0) {
      r.output.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(out[0]);
  waitpid(pid, &r.status, 0);
  return r;
}

}  // namespace

TEST_CASE("echo over IPv4 and IPv6, pooled and inline handlers") {
  FdBaseline fds;
  for (const char* host : {"127.0.0.1", "::1"}) {
    if (std::string_view(host) == "::1" && !ipv6_loopback_available()) {
      MESSAGE("no IPv6 loopback here; IPv6 part skipped");
      continue;
    }
    for (bool inline_handler : {false, true}) {
      CAPTURE(host);
      CAPTURE(inline_handler);
      DatagramServer::Options options;
      options.inline_handler = inline_handler;
      DatagramServer server({host, 0}, echo, options);
      CHECK_FALSE(server.started());
      server.start();
      CHECK(server.started());
      CHECK_FALSE(server.closed());
      CHECK(server.port() != 0);
      CHECK(server.address().host() == host);
      server.start();  // a second start() is a no-op
      Socket c = client_for(server);
      Address replier;
      CHECK(request(c, server.address(), "hello", &replier) == "hello");
      CHECK(replier == server.address());             // the reply comes from the server's socket
      CHECK(request(c, server.address(), "") == "");  // an empty datagram is a datagram
      const std::string big(60'000, 'z');
      CHECK((request(c, server.address(), big) == big));
      const std::string binary("a\0b\xff\n", 5);
      CHECK(request(c, server.address(), binary) == binary);
      CHECK(server.received() == 4);
      CHECK(server.truncated() == 0);
      CHECK(wait_until([&] { return server.handlers() == 0; }));
      CHECK(server.stop(1s));
      CHECK(server.closed());
      CHECK(server.stop(1s));  // idempotent
      auto r = catch_system_error([&] { server.sendto("late", replier); });
      CHECK(r.thrown);
      CHECK_MESSAGE(r.code == EBADF, r.what);
    }
  }
  fds.check();
}

TEST_CASE("200 greenlet clients, each awaiting 5 replies") {
  FdBaseline fds;
  for (std::size_t max_handlers : {std::size_t{10'000}, std::size_t{4}}) {
    CAPTURE(max_handlers);
    int running = 0;
    int high = 0;
    DatagramServer::Options options;
    options.max_handlers = max_handlers;
    DatagramServer server(
        {"127.0.0.1", 0},
        [&](std::string_view data, const Address& from, DatagramServer& srv) {
          ++running;
          high = std::max(high, running);
          gev::sleep(1ms);  // handlers overlap
          --running;
          srv.sendto("ack:" + std::string(data), from);
        },
        options);
    server.start();
    constexpr int clients = 200;
    constexpr int rounds = 5;
    std::vector<std::shared_ptr<gev::Greenlet<int>>> jobs;
    for (int i = 0; i < clients; ++i) {
      jobs.push_back(gev::spawn([&server, i]() -> int {
        Socket c = client_for(server, 10s);
        int ok = 0;
        for (int k = 0; k < rounds; ++k) {
          const std::string msg = "client " + std::to_string(i) + " round " + std::to_string(k);
          if (request(c, server.address(), msg) == "ack:" + msg) ++ok;
        }
        return ok;
      }));
    }
    CHECK(gev::joinall(jobs, 60s).size() == jobs.size());
    int ok = 0;
    for (auto& j : jobs) {
      if (j->ready() && j->successful()) ok += *j->value();
      if (j->ready() && !j->successful())
        MESSAGE("client failed: " << gev::test::what_of(j->exception()));
    }
    CHECK(ok == clients * rounds);
    CHECK(server.received() == static_cast<std::uint64_t>(clients * rounds));
    CHECK(high > 1);
    CHECK(high <= static_cast<int>(max_handlers));
    CHECK(wait_until([&] { return server.handlers() == 0; }));
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("a burst of datagrams does not starve other greenlets (max_batch)") {
  FdBaseline fds;
  for (bool inline_handler : {false, true}) {
    CAPTURE(inline_handler);
    constexpr int burst = 200;
    std::size_t high = 0;
    DatagramServer::Options options;
    options.inline_handler = inline_handler;
    options.max_batch = 10;
    options.receive_buffer = 1 << 20;  // the whole burst fits in the kernel's buffer
    DatagramServer server(
        {"127.0.0.1", 0},
        [&](std::string_view, const Address&, DatagramServer& srv) {
          high = std::max(high, srv.handlers());
        },
        options);
    server.start();
    int ticks = 0;
    bool done = false;
    auto ticker = gev::spawn([&] {
      for (int i = 0; i < 1'000'000 && !done; ++i) {
        if (server.received() > 0 && server.received() < burst) ++ticks;
        gev::sleep(0s);
      }
    });
    Socket c = client_for(server);
    for (int i = 0; i < burst; ++i) c.sendto("burst", 5, server.address());  // never parks
    CHECK(wait_until([&] { return server.received() == burst; }));
    done = true;
    CHECK(ticker->join(10s));
    // Without the batch bound the loop would take the whole burst in one go: no tick in between,
    // and (pooled) 200 handler greenlets spawned before the first one runs.
    CHECK_MESSAGE(ticks >= 5, "ticks " << ticks);
    CHECK_MESSAGE(high <= 2 * options.max_batch, "high " << high);
    CHECK(server.stop(1s));
  }
  fds.check();
}

TEST_CASE("a throwing handler is reported with the peer and the server keeps serving") {
  FdBaseline fds;
  for (bool inline_handler : {false, true}) {
    CAPTURE(inline_handler);
    gev::test::CaptureErrors errors;
    {
      DatagramServer::Options options;
      options.inline_handler = inline_handler;
      DatagramServer server(
          {"127.0.0.1", 0},
          [](std::string_view data, const Address& from, DatagramServer& srv) {
            if (data == "boom") throw std::runtime_error("handler boom");
            srv.sendto(data, from);
          },
          options);
      server.start();
      Socket c = client_for(server);
      for (int i = 0; i < 3; ++i) {
        c.sendto("boom", 4, server.address());
        CHECK(request(c, server.address(), "still there") == "still there");
      }
      CHECK(wait_until([&] { return errors.count() == 3; }));
      const std::string me = c.local_address().to_string();
      for (const auto& r : errors.reports()) {
        CHECK_MESSAGE(r.context.find(me) != std::string::npos,
                      "context '" << r.context << "' lacks the peer " << me);
        CHECK(r.context.find("DatagramServer(127.0.0.1:") != std::string::npos);
        CHECK(r.description.find("handler boom") != std::string::npos);
      }
      CHECK(server.received() == 6);
      CHECK(server.stop(1s));
    }
    CHECK(errors.count() == 3);
  }
  fds.check();
}

TEST_CASE("stop(timeout): handlers finishing in time still reply; stuck ones are killed") {
  FdBaseline fds;
  SUBCASE("handlers finish within the timeout and their replies go out") {
    gev::test::CaptureErrors errors;
    int finished = 0;
    {
      DatagramServer server({"127.0.0.1", 0},
                            [&](std::string_view data, const Address& from, DatagramServer& srv) {
                              gev::sleep(50ms);
                              srv.sendto(data, from);
                              ++finished;
                            });
      server.start();
      Socket c = client_for(server);
      for (int i = 0; i < 3; ++i) c.sendto("late reply", 10, server.address());
      REQUIRE(wait_until([&] { return server.handlers() == 3; }));
      CHECK(server.stop(10s));
      CHECK(finished == 3);
      CHECK(server.handlers() == 0);
      CHECK(server.closed());
      for (int i = 0; i < 3; ++i) {
        char buf[64];
        Address from;
        std::size_t n = c.recvfrom(buf, sizeof buf, from);
        CHECK(std::string(buf, n) == "late reply");
      }
    }
    CHECK(errors.count() == 0);
  }
  SUBCASE("stuck handlers are killed after the timeout") {
    for (bool inline_handler : {false, true}) {
      CAPTURE(inline_handler);
      gev::test::CaptureErrors errors;
      int destroyed = 0;
      bool after_block = false;
      DatagramServer::Options options;
      options.inline_handler = inline_handler;
      DatagramServer server(
          {"127.0.0.1", 0},
          [&](std::string_view, const Address&, DatagramServer&) {
            gev::test::Witness w(&destroyed);
            gev::sleep(1h);
            after_block = true;
          },
          options);
      server.start();
      const int stuck = inline_handler ? 1 : 3;
      Socket c = client_for(server);
      for (int i = 0; i < stuck; ++i) c.sendto("x", 1, server.address());
      REQUIRE(wait_until([&] { return server.handlers() == static_cast<std::size_t>(stuck); }));
      const auto t0 = Clock::now();
      CHECK_FALSE(server.stop(100ms));
      const auto elapsed = Clock::now() - t0;
      CHECK(elapsed >= 90ms);
      CHECK(elapsed < 10s);
      CHECK(destroyed == stuck);
      CHECK_FALSE(after_block);
      CHECK(server.handlers() == 0);
      CHECK(server.closed());
      CHECK_FALSE(server.stop(1s));  // a stopped server keeps its answer
      CHECK(errors.count() == 0);    // GreenletExit is not a failure
    }
  }
  fds.check();
}

TEST_CASE("after stop() the port is free again") {
  FdBaseline fds;
  Address old;
  {
    DatagramServer server({"127.0.0.1", 0}, echo);
    server.start();
    old = server.address();
    Socket c = client_for(server);
    CHECK(request(c, old, "one") == "one");
    CHECK(server.stop(1s));
    // Nobody answers on the old port any more.
    c.sendto("anyone?", 7, old);
    CHECK(nothing_arrives(c, 100ms));
    // Binding exactly that address, without SO_REUSEADDR, works at once.
    Socket again(AF_INET, SOCK_DGRAM);
    CHECK_NOTHROW(again.bind(old));
  }
  {
    DatagramServer server(old, echo);
    CHECK_NOTHROW(server.start());
    CHECK(server.address() == old);
    Socket c = client_for(server);
    CHECK(request(c, old, "two") == "two");
  }  // the destructor stops it
  Socket after(AF_INET, SOCK_DGRAM);
  CHECK_NOTHROW(after.bind(old));
  after.close();
  fds.check();
}

TEST_CASE("a datagram longer than max_datagram is dropped and reported, never delivered cut") {
  FdBaseline fds;
  for (bool inline_handler : {false, true}) {
    CAPTURE(inline_handler);
    std::vector<std::size_t> delivered;
    std::vector<std::shared_ptr<const DatagramTooLarge>> too_large;
    std::vector<std::string> contexts;
    gev::ErrorHook previous = gev::set_error_hook([&](const gev::ErrorReport& r) {
      contexts.emplace_back(r.context);
      try {
        std::rethrow_exception(r.error);
      } catch (const DatagramTooLarge& e) {
        too_large.push_back(std::make_shared<const DatagramTooLarge>(e));
      } catch (...) {
      }
    });
    {
      DatagramServer::Options options;
      options.max_datagram = 1024;
      options.inline_handler = inline_handler;
      DatagramServer server(
          {"127.0.0.1", 0},
          [&](std::string_view data, const Address& from, DatagramServer& srv) {
            delivered.push_back(data.size());
            srv.sendto("got " + std::to_string(data.size()), from);
          },
          options);
      server.start();
      Socket c = client_for(server);
      CHECK(request(c, server.address(), std::string(1024, 'a')) == "got 1024");
      c.sendto(std::string(1025, 'b').data(), 1025, server.address());
      c.sendto(std::string(5000, 'c').data(), 5000, server.address());
      CHECK(request(c, server.address(), "small") == "got 5");
      CHECK(wait_until([&] { return server.truncated() == 2; }));
      CHECK(nothing_arrives(c, 50ms));  // no reply was sent for the dropped ones
      CHECK(delivered == std::vector<std::size_t>{1024, 5});
      CHECK(server.received() == 2);
      REQUIRE(too_large.size() == 2);
      CHECK(too_large[0]->size() == 1025);
      CHECK(too_large[1]->size() == 5000);
      CHECK(too_large[1]->limit() == 1024);
      CHECK(too_large[1]->from() == c.local_address());
      CHECK(too_large[1]->code() == std::errc::message_size);
      const std::string what = too_large[1]->what();
      CHECK_MESSAGE(what.find("5000 bytes") != std::string::npos, what);
      CHECK_MESSAGE(what.find(c.local_address().to_string()) != std::string::npos, what);
      CHECK_MESSAGE(what.find("max_datagram 1024") != std::string::npos, what);
      REQUIRE(contexts.size() == 2);
      CHECK(contexts[0].find("DatagramServer(127.0.0.1:") != std::string::npos);
      CHECK(server.stop(1s));
    }
    gev::set_error_hook(std::move(previous));
  }
  fds.check();
}

TEST_CASE("Unix datagram sockets: echo, and oversize datagrams dropped") {
  FdBaseline fds;
  const std::string server_path = temp_socket_path("srv");
  const std::string client_path = temp_socket_path("cli");
  unlink(server_path.c_str());
  unlink(client_path.c_str());
  {
    gev::test::CaptureErrors errors;
    DatagramServer::Options options;
    options.max_datagram = 100'000;  // beyond UDP's limit: Unix datagrams may be that long
    DatagramServer server(Address::unix_path(server_path), echo, options);
    server.start();
    CHECK(server.address().family() == AF_UNIX);
    CHECK(server.address().host() == server_path);
    Socket c(AF_UNIX, SOCK_DGRAM);
    c.settimeout(10s);
    c.setsockopt(SOL_SOCKET, SO_SNDBUF, 1 << 20);
    c.bind(Address::unix_path(client_path));  // so that the server can answer
    Address replier;
    CHECK(request(c, server.address(), "over unix", &replier) == "over unix");
    CHECK(replier.host() == server_path);
    const std::string big(90'000, 'u');
    c.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 20);
    CHECK((request(c, server.address(), big) == big));
    c.sendto(std::string(100'001, 'v').data(), 100'001, server.address());
    CHECK(wait_until([&] { return server.truncated() == 1; }));
    CHECK(request(c, server.address(), "after") == "after");
    CHECK(server.received() == 3);
    CHECK(errors.count() == 1);
    CHECK(server.stop(1s));
  }
  unlink(server_path.c_str());
  unlink(client_path.c_str());
  fds.check();
}

TEST_CASE("Python as a real UDP peer") {
  FdBaseline fds;
  {
    gev::test::CaptureErrors errors;
    DatagramServer::Options options;
    options.max_datagram = 2048;
    DatagramServer server(
        {"127.0.0.1", 0},
        [](std::string_view data, const Address& from, DatagramServer& srv) {
          std::string up(data);
          for (char& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
          srv.sendto(up, from);
        },
        options);
    server.start();
    static const char* script = R"PY(
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
ok = 0
for i in range(50):
    msg = ('python %d' % i).encode()
    s.sendto(msg, ('127.0.0.1', port))
    data, addr = s.recvfrom(65535)
    if data == msg.upper() and addr == ('127.0.0.1', port):
        ok += 1
s.sendto(b'x' * 3000, ('127.0.0.1', port))   # longer than max_datagram: no reply
s.settimeout(0.3)
try:
    data, addr = s.recvfrom(65535)
    print('unexpected reply', data[:20])
except socket.timeout:
    pass
s.settimeout(10)
s.sendto(b'last', ('127.0.0.1', port))
print('ok', ok, s.recvfrom(100)[0].decode())
)PY";
    gev::ThreadPool threads{1};
    auto result =
        threads.spawn(run_process, std::vector<std::string>{"timeout", "60", "python3", "-c",
                                                            script, std::to_string(server.port())});
    REQUIRE(result.wait(90s));
    const ProcessResult& r = result.get();
    if (r.status != 0 && r.output.find("posix_spawnp") != std::string::npos) {
      MESSAGE("python3 not runnable here: " << r.output);
    } else {
      CHECK_MESSAGE(WIFEXITED(r.status), r.output);
      CHECK_MESSAGE(WEXITSTATUS(r.status) == 0, r.output);
      CHECK_MESSAGE(r.output == "ok 50 LAST\n", r.output);
      CHECK(server.received() == 51);
      CHECK(server.truncated() == 1);
      CHECK(errors.count() == 1);
    }
    CHECK(server.stop(1s));
  }
  fds.check();
}

TEST_CASE("ECONNREFUSED from an ICMP port unreachable does not stop the receive loop") {
  FdBaseline fds;
  gev::test::CaptureErrors errors;
  SUBCASE("a connected socket taken over by the server") {
    Socket peer(AF_INET, SOCK_DGRAM);
    peer.settimeout(10s);
    peer.bind(Address{"127.0.0.1", 0});
    const Address peer_address = peer.local_address();
    Socket s(AF_INET, SOCK_DGRAM);
    s.bind(Address{"127.0.0.1", 0});
    s.connect(peer_address);  // a connected UDP socket: Linux reports ICMP errors to it
    DatagramServer server(std::move(s), echo);
    server.start();
    CHECK(request(peer, server.address(), "before") == "before");
    peer.close();
    // Nobody on the peer's port now: the kernel answers with ICMP port unreachable, which the
    // server's next receive call returns as ECONNREFUSED.
    server.sendto("into the void", peer_address);
    REQUIRE(wait_until([&] { return server.socket_errors() >= 1; }));
    // The same peer comes back on the same port: the server still serves it.
    Socket back(AF_INET, SOCK_DGRAM);
    back.settimeout(10s);
    back.bind(peer_address);
    CHECK(request(back, server.address(), "after") == "after");
    CHECK(server.received() == 2);
    CHECK(server.stop(1s));
  }
  SUBCASE("an unconnected socket with IP_RECVERR: errors queued, no spinning") {
    Socket s(AF_INET, SOCK_DGRAM);
    s.setsockopt(IPPROTO_IP, IP_RECVERR, 1);
    s.bind(Address{"127.0.0.1", 0});
    DatagramServer server(std::move(s), echo);
    server.start();
    const Address dead = dead_address();
    for (int i = 0; i < 5; ++i) {
      server.sendto("nobody", dead);  // a stale ICMP error met here is skipped, not thrown
      gev::sleep(1ms);
    }
    REQUIRE(wait_until([&] { return server.socket_errors() >= 1; }));
    const auto wall0 = Clock::now();
    const double cpu0 = cpu_seconds();
    gev::sleep(300ms);
    const double cpu = cpu_seconds() - cpu0;
    const double wall = std::chrono::duration<double>(Clock::now() - wall0).count();
    CHECK_MESSAGE(cpu < 0.5 * wall, "cpu " << cpu << " s over " << wall << " s wall");
    Socket c = client_for(server);
    CHECK(request(c, server.address(), "alive") == "alive");
    CHECK(server.stop(1s));
  }
  CHECK(errors.count() == 0);  // peer errors are counted, not reported
  fds.check();
}

TEST_CASE("stop() from inside a handler ends serve_forever") {
  FdBaseline fds;
  for (bool inline_handler : {false, true}) {
    CAPTURE(inline_handler);
    gev::test::CaptureErrors errors;
    std::optional<bool> stop_result;
    bool handler_went_on = false;
    DatagramServer::Options options;
    options.inline_handler = inline_handler;
    DatagramServer server(
        {"127.0.0.1", 0},
        [&](std::string_view data, const Address& from, DatagramServer& srv) {
          if (data == "quit") {
            stop_result = srv.stop(5s);
            srv.sendto("bye", from);  // the socket stays open until the handlers are done
            handler_went_on = true;
            return;
          }
          srv.sendto(data, from);
        },
        options);
    bool returned = false;
    auto runner = gev::spawn([&] {
      server.serve_forever();
      returned = true;
    });
    REQUIRE(wait_until([&] { return server.started(); }));
    Socket c = client_for(server);
    CHECK(request(c, server.address(), "ping") == "ping");
    CHECK(request(c, server.address(), "quit") == "bye");
    CHECK(runner->join(10s));
    CHECK(returned);
    REQUIRE(stop_result.has_value());
    CHECK_FALSE(*stop_result);  // the calling handler was still running
    CHECK(handler_went_on);
    CHECK(server.closed());
    CHECK(server.stop(1s));  // the stop finished cleanly (the handler returned in time)
    CHECK(errors.count() == 0);
  }
  fds.check();
}

TEST_CASE("a concurrent second stop() waits for the first") {
  FdBaseline fds;
  {
    int destroyed = 0;
    DatagramServer server({"127.0.0.1", 0}, [&](std::string_view, const Address&, DatagramServer&) {
      gev::test::Witness w(&destroyed);
      gev::sleep(1h);
    });
    server.start();
    Socket c = client_for(server);
    c.sendto("x", 1, server.address());
    REQUIRE(wait_until([&] { return server.handlers() == 1; }));
    auto first = gev::spawn([&] { return server.stop(100ms); });
    gev::sleep(0s);
    gev::sleep(0s);
    CHECK_FALSE(server.stop(10s));  // returns the first stop's answer, once it finished
    CHECK(destroyed == 1);
    REQUIRE(first->join(10s));
    CHECK_FALSE(first->get());
  }
  fds.check();
}

TEST_CASE("the destructor stops a running server") {
  FdBaseline fds;
  int destroyed = 0;
  {
    DatagramServer server({"127.0.0.1", 0}, [&](std::string_view, const Address&, DatagramServer&) {
      gev::test::Witness w(&destroyed);
      gev::sleep(1h);
    });
    server.start();
    Socket c = client_for(server);
    for (int i = 0; i < 3; ++i) c.sendto("x", 1, server.address());
    REQUIRE(wait_until([&] { return server.handlers() == 3; }));
    CHECK(gev::get_hub().live_greenlets() >= 4);  // receiver + 3 handlers
  }
  CHECK(destroyed == 3);
  CHECK(gev::get_hub().live_greenlets() == 0);
  fds.check();
}

TEST_CASE("destroying a server while serve_forever is parked in another greenlet") {
  // In a child: a use-after-free here would otherwise take the whole runner down.
  auto r = gev::test::run_child([]() -> int {
    bool returned = false;
    std::shared_ptr<gev::Greenlet<void>> runner;
    {
      DatagramServer server({"127.0.0.1", 0}, echo);
      runner = gev::spawn([&] {
        server.serve_forever();
        returned = true;
      });
      if (!wait_until([&] { return server.started(); })) return 10;
    }
    if (!runner->join(10s)) return 11;
    if (!returned) return 12;
    if (gev::get_hub().live_greenlets() != 0) return 13;
    return 0;
  });
  CHECK_MESSAGE(r.exit_code() == 0,
                "child status " << r.status << " exit " << r.exit_code() << ": " << r.output);
}

TEST_CASE("reuse_address is off by default; reuse_port shares a port") {
  FdBaseline fds;
  {  // a second server on a taken port fails loudly instead of stealing its datagrams
    DatagramServer a({"127.0.0.1", 0}, echo);
    a.start();
    DatagramServer b(a.address(), echo);
    auto r = catch_system_error([&] { b.start(); });
    CHECK(r.thrown);
    CHECK_MESSAGE(r.code == EADDRINUSE, r.what);
    CHECK_FALSE(b.started());
    CHECK(a.stop(1s));
  }
  {
    DatagramServer::Options options;
    options.reuse_port = true;
    DatagramServer a({"127.0.0.1", 0}, echo, options);
    a.start();
    DatagramServer b(a.address(), echo, options);
    CHECK_NOTHROW(b.start());
    CHECK(b.address() == a.address());
    // The kernel spreads datagrams by the sender's address: several clients reach both.
    for (int i = 0; i < 20; ++i) {
      Socket c = client_for(a);
      CHECK(request(c, a.address(), "shared") == "shared");
    }
    CHECK(a.received() + b.received() == 20);
    CHECK(a.stop(1s));
    CHECK(b.stop(1s));
  }
  fds.check();
}

TEST_CASE("bad arguments and options") {
  FdBaseline fds;
  auto bad = [](DatagramServer::Options o) {
    CHECK_THROWS_AS(DatagramServer({"127.0.0.1", 0}, echo, o), std::invalid_argument);
  };
  bad({.max_datagram = 0});
  bad({.max_datagram = std::size_t{1} << 30});
  bad({.max_handlers = 0});
  CHECK_NOTHROW(
      DatagramServer({"127.0.0.1", 0}, echo, {.max_handlers = 0, .inline_handler = true}));
  CHECK_THROWS_AS(DatagramServer({"127.0.0.1", 0}, DatagramServer::Handler{}),
                  std::invalid_argument);
  {  // a stream socket is not a datagram socket
    Socket tcp(AF_INET, SOCK_STREAM);
    CHECK_THROWS_AS(DatagramServer(std::move(tcp), echo), std::invalid_argument);
  }
  {  // stop() before start() is a no-op
    DatagramServer server({"127.0.0.1", 0}, echo);
    CHECK(server.stop(1s));
    CHECK_FALSE(server.closed());
  }
  {
    DatagramServer::Options options;
    options.receive_buffer = 256 * 1024;
    DatagramServer server({"127.0.0.1", 0}, echo, options);
    server.start();
    CHECK(server.socket().getsockopt_int(SOL_SOCKET, SO_RCVBUF) >= 256 * 1024);
    CHECK(server.options().receive_buffer == 256 * 1024);
    CHECK(server.stop(1s));
  }
  fds.check();
}

TEST_CASE("a concurrent stop() takes over when the first one is killed or times out") {
  FdBaseline fds;
  for (bool by_timeout : {false, true}) {
    CAPTURE(by_timeout);
    int destroyed = 0;
    {
      DatagramServer server({"127.0.0.1", 0},
                            [&](std::string_view, const Address&, DatagramServer&) {
                              gev::test::Witness w(&destroyed);
                              gev::sleep(1h);
                            });
      server.start();
      Socket c = client_for(server);
      c.sendto("x", 1, server.address());
      REQUIRE(wait_until([&] { return server.handlers() == 1; }));
      auto first = gev::spawn([&] {
        if (by_timeout) {
          gev::Timeout t(50ms);
          try {
            server.stop(std::nullopt);  // would wait forever
          } catch (const gev::Timeout&) {
          }
        } else {
          server.stop(std::nullopt);
        }
      });
      gev::sleep(0s);
      gev::sleep(0s);
      if (!by_timeout) {
        gev::sleep(20ms);
        first->kill({.block = false});
      }
      const auto t0 = Clock::now();
      CHECK_FALSE(server.stop(300ms));  // waits for the first, then does the work itself
      CHECK(Clock::now() - t0 < 5s);
      CHECK(server.closed());
      CHECK(destroyed == 1);
      CHECK(first->join(5s));
    }
  }
  SUBCASE("the destructor takes over too") {
    int destroyed = 0;
    std::shared_ptr<gev::Greenlet<void>> first;
    {
      DatagramServer server({"127.0.0.1", 0},
                            [&](std::string_view, const Address&, DatagramServer&) {
                              gev::test::Witness w(&destroyed);
                              gev::sleep(1h);
                            });
      server.start();
      Socket c = client_for(server);
      c.sendto("x", 1, server.address());
      REQUIRE(wait_until([&] { return server.handlers() == 1; }));
      first = gev::spawn([&] { server.stop(std::nullopt); });
      auto killer = gev::spawn_later(50ms, [&] { first->kill({.block = false}); });
      gev::sleep(0s);
      gev::sleep(0s);
    }  // waits for the first stop, then stops the server itself
    CHECK(destroyed == 1);
    CHECK(first->join(5s));
    CHECK(gev::get_hub().live_greenlets() == 0);
  }
  fds.check();
}
