// net::StreamServer on loopback: echo with 500 concurrent clients, port 0, serve_forever/stop,
// client sockets closed after the handler returns or throws (error hook), max_connections,
// stop(timeout) with and without stuck handlers, the destructor, EMFILE back-off (in a child),
// reuse_port, a server taking over an existing socket, stop() from inside a handler, a
// concurrent stop() taking over a killed one, and max_accept checks. The descriptor count is back
// at its baseline after every case.
#include <dirent.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gev/net/ssl_context.hpp>
#include <gev/net/ssl_stream.hpp>
#include <gev/net/stream_server.hpp>
#include <gev/runtime/timeout.hpp>

#include "net/net_support.hpp"
#include "net/ssl_support.hpp"

using namespace std::chrono_literals;
using gev::net::Address;
using gev::net::Socket;
using gev::net::StreamServer;
using gev::test::catch_system_error;
using gev::test::echo_once;
using gev::test::FdBaseline;
using gev::test::make_listener;
using gev::test::read_to_eof;
using gev::test::wait_until;

namespace {

using Clock = std::chrono::steady_clock;

void echo_handler(Socket& client, const Address&) {
  char buf[4096];
  for (int i = 0; i < 1000000; ++i) {
    std::size_t n = client.recv(buf, sizeof buf);
    if (n == 0) break;
    client.sendall(buf, n);
  }
}

Socket connect_to(const StreamServer& server) {
  return gev::net::create_connection("127.0.0.1", server.address().port(), 10s);
}

void raise_nofile(rlim_t want) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want && rl.rlim_max >= want) {
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

std::set<int> open_fds() {
  std::set<int> out;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return out;
  const int own = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != own) out.insert(fd);
  }
  closedir(dir);
  return out;
}

std::size_t count_occurrences(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size()))
    ++n;
  return n;
}

}  // namespace

TEST_CASE("echo through a StreamServer with 500 concurrent greenlet clients") {
  raise_nofile(1200);
  FdBaseline fds;
  {
    StreamServer server({"127.0.0.1", 0}, echo_handler);
    server.start();
    constexpr int clients = 500;
    gev::Event go;
    int connected = 0;
    std::vector<std::shared_ptr<gev::Greenlet<bool>>> jobs;
    for (int i = 0; i < clients; ++i) {
      jobs.push_back(gev::spawn([&, i]() -> bool {
        Socket s = connect_to(server);
        ++connected;
        if (!go.wait(30s)) return false;
        std::string msg = "client " + std::to_string(i) + " " + std::string(i % 300, 'a' + i % 26);
        return echo_once(s, msg) == msg;
      }));
    }
    CHECK(wait_until([&] { return connected == clients; }, 30s));
    CHECK(wait_until([&] { return server.accepted() == clients; }, 30s));
    CHECK(server.connections() == clients);
    go.set();
    gev::joinall(jobs, 60s);
    int ok = 0;
    for (auto& j : jobs) {
      if (j->ready() && j->value().value_or(false)) ++ok;
      if (j->ready() && !j->successful())
        MESSAGE("client failed: " << gev::test::what_of(j->exception()));
    }
    CHECK(ok == clients);
    CHECK(server.accepted() == clients);
    CHECK(wait_until([&] { return server.connections() == 0; }, 10s));
    CHECK(server.stop(5s));
    CHECK(server.closed());
  }
  fds.check();
}

TEST_CASE("start() on port 0 binds a real port; serve_forever returns after stop()") {
  FdBaseline fds;
  {
    StreamServer server({"127.0.0.1", 0}, echo_handler);
    CHECK_FALSE(server.started());
    server.start();
    CHECK(server.started());
    CHECK_FALSE(server.closed());
    CHECK(server.address().port() != 0);
    CHECK(server.address().to_string().rfind("127.0.0.1:", 0) == 0);
    server.start();  // a second start() is a no-op
    CHECK(server.stop(1s));
    CHECK(server.stop(1s));  // idempotent
  }
  {
    StreamServer server({"127.0.0.1", 0}, echo_handler);
    bool returned = false;
    auto runner = gev::spawn([&] {
      server.serve_forever();
      returned = true;
    });
    REQUIRE(wait_until([&] { return server.started(); }));
    CHECK(server.address().port() != 0);
    {
      Socket c = connect_to(server);
      CHECK(echo_once(c, "ping") == "ping");
    }
    gev::sleep(10ms);
    CHECK_FALSE(returned);
    CHECK_FALSE(runner->ready());
    auto stopper = gev::spawn([&] { return server.stop(5s); });
    CHECK(runner->join(10s));
    CHECK(returned);
    CHECK(runner->successful());
    REQUIRE(stopper->join(10s));
    CHECK(stopper->get());
    CHECK(server.closed());
  }
  fds.check();
}

TEST_CASE("the client socket is closed when the handler returns or throws") {
  FdBaseline fds;
  SUBCASE("handler returns") {
    gev::test::CaptureErrors errors;
    {
      StreamServer server({"127.0.0.1", 0},
                          [](Socket& client, const Address&) { client.sendall("bye"); });
      server.start();
      for (int i = 0; i < 5; ++i) {
        Socket c = connect_to(server);
        CHECK(read_to_eof(c) == "bye");
      }
      CHECK(server.accepted() == 5);
      CHECK(wait_until([&] { return server.connections() == 0; }));
      CHECK(server.stop(1s));
    }
    CHECK(errors.count() == 0);
  }
  SUBCASE("handler throws: reported through the error hook with the peer") {
    std::vector<std::string> contexts;
    std::vector<std::string> descriptions;
    gev::ErrorHook previous = gev::set_error_hook([&](const gev::ErrorReport& r) {
      contexts.emplace_back(r.context);
      descriptions.push_back(gev::describe_exception(r.error));
    });
    std::vector<std::string> peers;
    {
      StreamServer server({"127.0.0.1", 0}, [](Socket& client, const Address& peer) {
        client.sendall("x");
        throw std::runtime_error("handler boom for " + peer.to_string());
      });
      server.start();
      for (int i = 0; i < 3; ++i) {
        Socket c = connect_to(server);
        peers.push_back(c.local_address().to_string());
        CHECK(read_to_eof(c) == "x");
      }
      CHECK(wait_until([&] { return contexts.size() == 3; }));
      CHECK(server.stop(1s));
    }
    gev::set_error_hook(std::move(previous));
    REQUIRE(contexts.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK_MESSAGE(contexts[i].find(peers[i]) != std::string::npos,
                    "context '" << contexts[i] << "' lacks the peer " << peers[i]);
      CHECK(descriptions[i].find("handler boom for " + peers[i]) != std::string::npos);
    }
  }
  fds.check();
}

TEST_CASE("max_connections = 3 bounds the handlers running at once") {
  FdBaseline fds;
  {
    int running = 0;
    int high = 0;
    int served = 0;
    gev::Event release;
    StreamServer::Options options;
    options.max_connections = 3;
    StreamServer server(
        {"127.0.0.1", 0},
        [&](Socket& client, const Address&) {
          ++running;
          high = std::max(high, running);
          release.wait(30s);
          client.sendall("ok");
          --running;
        },
        options);
    server.start();
    std::vector<std::shared_ptr<gev::Greenlet<bool>>> clients;
    for (int i = 0; i < 10; ++i) {
      clients.push_back(gev::spawn([&]() -> bool {
        Socket c = connect_to(server);
        bool ok = read_to_eof(c) == "ok";
        if (ok) ++served;
        return ok;
      }));
    }
    CHECK(wait_until([&] { return running == 3; }));
    gev::sleep(50ms);  // time for a wrongly admitted fourth handler to show up
    CHECK(running == 3);
    CHECK(server.connections() == 3);
    CHECK(server.accepted() == 3);
    release.set();
    CHECK(gev::joinall(clients, 30s).size() == clients.size());
    CHECK(served == 10);
    CHECK(high == 3);
    CHECK(server.accepted() == 10);
    CHECK(server.stop(1s));
  }
  fds.check();
}

TEST_CASE("stop(timeout) waits for handlers, kills stuck ones, then refuses connections") {
  FdBaseline fds;
  SUBCASE("handlers finish within the timeout") {
    gev::test::CaptureErrors errors;
    int finished = 0;
    Address old;
    {
      StreamServer server({"127.0.0.1", 0}, [&](Socket& client, const Address&) {
        gev::sleep(50ms);
        client.sendall("done");
        ++finished;
      });
      server.start();
      old = server.address();
      std::vector<Socket> clients;
      for (int i = 0; i < 3; ++i) clients.push_back(connect_to(server));
      REQUIRE(wait_until([&] { return server.connections() == 3; }));
      CHECK(server.stop(10s));
      CHECK(finished == 3);
      CHECK(server.connections() == 0);
      for (auto& c : clients) CHECK(read_to_eof(c) == "done");
      auto r = catch_system_error([&] { Socket s = connect_to(server); });
      CHECK(r.thrown);
      CHECK_MESSAGE(r.code == ECONNREFUSED, r.what);
    }
    CHECK(errors.count() == 0);
  }
  SUBCASE("a handler blocking forever is killed after the timeout") {
    gev::test::CaptureErrors errors;
    int destroyed = 0;
    bool after_block = false;
    {
      StreamServer server({"127.0.0.1", 0}, [&](Socket&, const Address&) {
        gev::test::Witness w(&destroyed);
        gev::sleep(1h);
        after_block = true;
      });
      server.start();
      Socket c = connect_to(server);
      REQUIRE(wait_until([&] { return server.connections() == 1; }));
      const auto t0 = Clock::now();
      CHECK_FALSE(server.stop(100ms));
      const auto elapsed = Clock::now() - t0;
      CHECK(elapsed >= 90ms);
      CHECK(elapsed < 10s);
      CHECK(destroyed == 1);
      CHECK_FALSE(after_block);
      CHECK(server.connections() == 0);
      CHECK(server.closed());
      CHECK(read_to_eof(c).empty());  // EOF: the killed handler's socket was closed
      auto r = catch_system_error([&] { Socket s = connect_to(server); });
      CHECK(r.thrown);
      CHECK_MESSAGE(r.code == ECONNREFUSED, r.what);
    }
    CHECK(errors.count() == 0);  // GreenletExit is not reported as a failure
  }
  fds.check();
}

TEST_CASE("the destructor of a started server stops it") {
  FdBaseline fds;
  int destroyed = 0;
  {
    StreamServer server({"127.0.0.1", 0}, [&](Socket&, const Address&) {
      gev::test::Witness w(&destroyed);
      gev::sleep(1h);
    });
    server.start();
    std::vector<Socket> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(connect_to(server));
    REQUIRE(wait_until([&] { return server.connections() == 3; }));
    CHECK(gev::get_hub().live_greenlets() >= 4);  // acceptor + 3 handlers
  }
  CHECK(destroyed == 3);
  CHECK(gev::get_hub().live_greenlets() == 0);
  fds.check();
}

TEST_CASE("destroying a server while serve_forever is parked in another greenlet") {
  // Run in a child: a use-after-free here would otherwise take the whole runner down.
  auto r = gev::test::run_child([]() -> int {
    bool returned = false;
    std::shared_ptr<gev::Greenlet<void>> runner;
    {
      StreamServer server({"127.0.0.1", 0}, echo_handler);
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

TEST_CASE("EMFILE: the server backs off instead of spinning, then recovers") {
  auto r = gev::test::run_child(
      []() -> int {
        constexpr int clients = 5;
        int served = 0;
        int running = 0;
        gev::Event release;
        StreamServer server({"127.0.0.1", 0}, [&](Socket& client, const Address&) {
          ++running;
          release.wait(30s);
          client.sendall("hi");
          --running;
          ++served;
        });
        server.start();
        // Client sockets are made before the limit is lowered, so only accept() runs out.
        std::vector<Socket> socks;
        for (int i = 0; i < clients; ++i) socks.emplace_back(AF_INET, SOCK_STREAM);
        // Leave exactly 3 free descriptor numbers below the limit.
        std::set<int> used = open_fds();
        int free_slots = 0;
        int limit = 0;
        for (int fd = 0; free_slots < 3; ++fd) {
          if (!used.count(fd)) ++free_slots;
          limit = fd + 1;
        }
        rlimit rl{};
        getrlimit(RLIMIT_NOFILE, &rl);
        rlimit low = rl;
        low.rlim_cur = static_cast<rlim_t>(limit);
        if (setrlimit(RLIMIT_NOFILE, &low) != 0) return 20;
        int got = 0;
        std::vector<std::shared_ptr<gev::Greenlet<void>>> jobs;
        for (int i = 0; i < clients; ++i) {
          jobs.push_back(gev::spawn([&, i] {
            socks[i].settimeout(30s);
            socks[i].connect(server.address());
            if (read_to_eof(socks[i]) == "hi") ++got;
            socks[i].close();
          }));
        }
        if (!wait_until([&] { return running == 3; })) return 21;
        // All five are connected (the backlog holds two); accept now fails with EMFILE.
        const auto wall0 = Clock::now();
        const double cpu0 = cpu_seconds();
        gev::sleep(1s);
        const double cpu = cpu_seconds() - cpu0;
        const double wall = std::chrono::duration<double>(Clock::now() - wall0).count();
        std::printf("cpu %.3f s over %.3f s wall\n", cpu, wall);
        if (running != 3 || server.accepted() != 3) return 22;
        if (cpu > 0.5 * wall) return 23;
        release.set();
        if (gev::joinall(jobs, 20s).size() != jobs.size()) return 24;
        if (served != clients || got != clients) return 25;
        if (server.accepted() != static_cast<std::uint64_t>(clients)) return 26;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (!server.stop(5s)) return 27;
        return 0;
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.exit_code() == 0,
                "child status " << r.status << " exit " << r.exit_code() << ": " << r.output);
  CHECK_MESSAGE(count_occurrences(r.output, "backing off") == 1, r.output);
  CHECK(r.output.find("StreamServer(127.0.0.1:") != std::string::npos);
}

TEST_CASE("reuse_port: two servers on the same port") {
  FdBaseline fds;
  {
    StreamServer::Options options;
    options.reuse_port = true;
    StreamServer a({"127.0.0.1", 0}, echo_handler, options);
    a.start();
    REQUIRE(a.address().port() != 0);
    StreamServer b(a.address(), echo_handler, options);
    CHECK_NOTHROW(b.start());
    CHECK(b.address() == a.address());
    for (int i = 0; i < 10; ++i) {
      Socket c = connect_to(a);
      CHECK(echo_once(c, "reuse") == "reuse");
    }
    CHECK(a.accepted() + b.accepted() == 10);
    CHECK(a.stop(1s));
    CHECK(b.stop(1s));
  }
  {  // without reuse_port the second bind fails
    StreamServer a({"127.0.0.1", 0}, echo_handler);
    a.start();
    StreamServer b(a.address(), echo_handler);
    auto r = catch_system_error([&] { b.start(); });
    CHECK(r.thrown);
    CHECK_MESSAGE(r.code == EADDRINUSE, r.what);
    CHECK_FALSE(b.started());
  }
  fds.check();
}

TEST_CASE("a StreamServer taking over an existing socket") {
  FdBaseline fds;
  SUBCASE("bound and listening") {
    Socket l = make_listener();
    const Address bound = l.local_address();
    StreamServer server(std::move(l), echo_handler);
    server.start();
    CHECK(server.address() == bound);
    Socket c = connect_to(server);
    CHECK(echo_once(c, "taken over") == "taken over");
    c.close();
    CHECK(server.stop(1s));
  }
  SUBCASE("bound, not yet listening") {
    Socket l(AF_INET, SOCK_STREAM);
    l.bind(Address{"127.0.0.1", 0});
    const Address bound = l.local_address();
    StreamServer::Options options;
    options.max_connections = 2;
    StreamServer server(std::move(l), echo_handler, options);
    server.start();
    CHECK(server.address() == bound);
    Socket c = connect_to(server);
    CHECK(echo_once(c, "listen now") == "listen now");
    c.close();
    CHECK(server.stop(1s));
  }
  fds.check();
}

TEST_CASE("a TLS StreamServer checks its context and handler, and stop() kills handshakes") {
  const gev::test::TestPki& pki = gev::test::test_pki();
  REQUIRE_MESSAGE(pki.error.empty(), pki.error);
  namespace ssl = gev::net::ssl;
  const ssl::Context tls = ssl::Context::server(pki.server_cert, pki.server_key);
  auto noop = [](ssl::Stream&, const Address&) {};
  CHECK_THROWS_AS(StreamServer({"127.0.0.1", 0}, ssl::Context::client(), noop),
                  std::invalid_argument);
  CHECK_THROWS_AS(StreamServer({"127.0.0.1", 0}, tls, StreamServer::TlsHandler()),
                  std::invalid_argument);
  FdBaseline fds;
  {
    gev::test::CaptureErrors errors;
    StreamServer::Options options;
    options.handshake_timeout = std::nullopt;  // a silent client would wait forever
    bool ran = false;
    StreamServer server(
        make_listener(), tls, [&](ssl::Stream&, const Address&) { ran = true; }, options);
    server.start();
    Socket silent = connect_to(server);
    REQUIRE(wait_until([&] { return server.connections() == 1; }));
    gev::sleep(20ms);
    const auto t0 = Clock::now();
    CHECK_FALSE(server.stop(100ms));  // the handshake never ends: killed
    CHECK(Clock::now() - t0 < 10s);
    CHECK(server.connections() == 0);
    CHECK(read_to_eof(silent).empty());
    CHECK_FALSE(ran);
    CHECK(errors.count() == 0);  // a kill is not a failed handshake
  }
  fds.check();
}

TEST_CASE("stop() from inside a handler returns at once and ends serve_forever") {
  FdBaseline fds;
  for (std::optional<gev::Duration> timeout :
       {std::optional<gev::Duration>{}, std::optional<gev::Duration>{5s}}) {
    CAPTURE(timeout.has_value());
    gev::test::CaptureErrors errors;
    std::optional<bool> stop_result;
    gev::Duration stop_took{};
    bool handler_went_on = false;
    StreamServer server({"127.0.0.1", 0}, [&](Socket& client, const Address&) {
      char buf[64];
      const std::size_t n = client.recv(buf, sizeof buf);
      if (std::string(buf, n) == "quit") {
        const auto t0 = Clock::now();
        stop_result = server.stop(timeout);  // must neither deadlock nor wait for itself
        stop_took = Clock::now() - t0;
        client.sendall("bye");
        handler_went_on = true;
        return;
      }
      client.sendall(buf, n);
    });
    bool returned = false;
    auto runner = gev::spawn([&] {
      server.serve_forever();
      returned = true;
    });
    REQUIRE(wait_until([&] { return server.started(); }));
    Socket a = connect_to(server);
    CHECK(echo_once(a, "ping") == "ping");
    Socket c = connect_to(server);
    c.sendall("quit");
    CHECK(read_to_eof(c) == "bye");
    CHECK(runner->join(10s));
    CHECK(returned);
    REQUIRE(stop_result.has_value());
    CHECK_FALSE(*stop_result);  // the calling handler was still running
    CHECK(stop_took < 1s);
    CHECK(handler_went_on);
    CHECK(server.closed());
    CHECK(server.stop(1s));  // the stop finished cleanly (the handlers returned in time)
    auto r = catch_system_error([&] { Socket s = connect_to(server); });
    CHECK(r.thrown);
    CHECK_MESSAGE(r.code == ECONNREFUSED, r.what);
    CHECK(errors.count() == 0);
  }
  SUBCASE("the stop a handler started still kills a stuck handler after the timeout") {
    gev::test::CaptureErrors errors;
    int destroyed = 0;
    bool stop_returned = false;
    StreamServer server({"127.0.0.1", 0}, [&](Socket& client, const Address&) {
      char buf[64];
      const std::size_t n = client.recv(buf, sizeof buf);
      if (std::string(buf, n) == "quit") {
        CHECK_FALSE(server.stop(100ms));
        stop_returned = true;
      }
      gev::test::Witness w(&destroyed);
      gev::sleep(1h);  // both handlers stay stuck: killed by the stop
    });
    server.start();
    Socket stuck = connect_to(server);
    stuck.sendall("hang");
    Socket c = connect_to(server);
    c.sendall("quit");
    REQUIRE(wait_until([&] { return server.closed(); }));
    CHECK(stop_returned);
    CHECK(destroyed == 2);
    CHECK(server.connections() == 0);
    CHECK_FALSE(server.stop(1s));  // a stopped server keeps its answer
    CHECK(read_to_eof(c).empty());
    CHECK(errors.count() == 0);
  }
  fds.check();
}

TEST_CASE("a concurrent stop() takes over when the first one is killed or times out") {
  FdBaseline fds;
  for (bool by_timeout : {false, true}) {
    CAPTURE(by_timeout);
    int destroyed = 0;
    {
      StreamServer server({"127.0.0.1", 0}, [&](Socket&, const Address&) {
        gev::test::Witness w(&destroyed);
        gev::sleep(1h);
      });
      server.start();
      Socket c = connect_to(server);
      REQUIRE(wait_until([&] { return server.connections() == 1; }));
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
      StreamServer server({"127.0.0.1", 0}, [&](Socket&, const Address&) {
        gev::test::Witness w(&destroyed);
        gev::sleep(1h);
      });
      server.start();
      Socket c = connect_to(server);
      REQUIRE(wait_until([&] { return server.connections() == 1; }));
      first = gev::spawn([&] { server.stop(std::nullopt); });
      auto killer = gev::spawn_later(50ms, [&] { first->kill({.block = false}); });
      gev::sleep(0s);
      gev::sleep(0s);
    }  // waits for the first stop, then stops the server itself
    CHECK(destroyed == 1);
    CHECK(first->join(5s));
  }
  fds.check();
}

TEST_CASE("max_accept == 0 is rejected") {
  StreamServer::Options options;
  options.max_accept = 0;
  CHECK_THROWS_AS(StreamServer({"127.0.0.1", 0}, echo_handler, options), std::invalid_argument);
  options.max_accept = 1;
  FdBaseline fds;
  {
    StreamServer server({"127.0.0.1", 0}, echo_handler, options);
    server.start();
    Socket c = connect_to(server);
    CHECK(echo_once(c, "one at a time") == "one at a time");
    c.close();
    CHECK(server.stop(1s));
  }
  fds.check();
}

TEST_CASE("TCP_NODELAY: set on accepted clients and create_connection by default, opt-out works") {
  FdBaseline fds;
  for (bool no_delay : {true, false}) {
    CAPTURE(no_delay);
    int seen = -1;
    StreamServer server(
        {"127.0.0.1", 0},
        [&](Socket& client, const Address&) {
          seen = client.getsockopt_int(IPPROTO_TCP, TCP_NODELAY);
          char c;
          client.recv(&c, 1);
        },
        StreamServer::Options{.no_delay = no_delay});
    server.start();
    Socket c = connect_to(server);
    CHECK(c.getsockopt_int(IPPROTO_TCP, TCP_NODELAY) != 0);
    c.sendall(std::string_view("x"));
    REQUIRE(wait_until([&] { return seen != -1; }));
    CHECK((seen != 0) == no_delay);
    c.close();
    CHECK(server.stop(5s));
  }
  fds.check();
}
