// gev::http::Server over raw sockets: the bytes on the wire. Routing, HEAD, keep-alive and its
// limits, pipelining, every rejected framing shape (and no resynchronisation after one), the
// limits with their statuses, the slowloris deadline, request bodies (Content-Length, chunked,
// 100-continue, unread bodies), streamed responses, and handler errors.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gev/http/app.hpp>
#include <gev/http/server.hpp>
#include <gev/hub/error_hook.hpp>
#include <gev/runtime/timeout.hpp>

#include "net/net_support.hpp"

using namespace std::chrono_literals;
using gev::http::App;
using gev::http::Request;
using gev::http::Response;
using gev::http::Server;
using gev::http::ServerOptions;
using gev::net::Socket;
using gev::test::FdBaseline;

namespace {

using Clock = std::chrono::steady_clock;

ServerOptions quiet(ServerOptions o = {}) {
  o.access_log = nullptr;
  return o;
}

App test_app() {
  App app;
  app.route("/", [](Request&) { return Response{200, "hello"}; });
  app.route("/n/<n>", [](Request& r) { return Response::text(200, "n=" + r.param("n")); });
  app.route("/echo",
            [](Request& r) {
              const std::string body = r.body();
              return Response::text(200, "len=" + std::to_string(body.size()) + " body=" + body);
            },
            {"POST", "PUT"});
  app.route("/ignore", [](Request&) { return Response::text(200, "ignored"); }, {"POST"});
  app.route("/query", [](Request& r) {
    return Response::text(200,
                          "a=" + r.query("a").value_or("?") + " b=" + r.query("b").value_or("?"));
  });
  app.route("/stream", [](Request&) {
    return Response::stream(200, [](gev::http::BodyWriter& w) {
      for (int i = 0; i < 5; ++i) w.write("piece" + std::to_string(i) + ";");
    });
  });
  app.route("/throw", [](Request&) -> Response { throw std::runtime_error("handler failed"); });
  app.route("/files/<path:rest>", [](Request& r) { return Response::text(200, r.param("rest")); });
  return app;
}

Socket connect(const Server& s) {
  Socket c = gev::net::create_connection("127.0.0.1", s.address().port(), 5s);
  c.settimeout(5s);
  return c;
}

// Everything the server sends until it closes (bounded by the socket's 5 s timeout).
std::string read_all(Socket& c) {
  std::string out;
  char buf[16384];
  try {
    for (int i = 0; i < 10000; ++i) {
      const std::size_t n = c.recv(buf, sizeof buf);
      if (n == 0) return out;
      out.append(buf, n);
    }
  } catch (const gev::net::timeout&) {
    return out + "<timed out waiting for the server>";
  } catch (const std::system_error& e) {
    return out + "<" + e.what() + ">";
  }
  return out;
}

std::string round_trip(const Server& s, const std::string& raw) {
  Socket c = connect(s);
  c.sendall(raw);
  return read_all(c);
}

// One response from a keep-alive connection: headers, then Content-Length bytes of body.
std::string read_response(Socket& c, std::string& pending) {
  char buf[4096];
  for (int i = 0; i < 1000; ++i) {
    const auto end = pending.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t length = 0;
      const auto cl = pending.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) length = std::stoul(pending.substr(cl + 16));
      if (pending.size() >= end + 4 + length) {
        std::string r = pending.substr(0, end + 4 + length);
        pending.erase(0, end + 4 + length);
        return r;
      }
    }
    const std::size_t n = c.recv(buf, sizeof buf);
    if (n == 0) break;
    pending.append(buf, n);
  }
  std::string r;
  r.swap(pending);
  return r;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("routes, 404, 405 with Allow, HEAD, Date/Server/Content-Length, query, path params") {
  FdBaseline fds;
  {
    Server server({"127.0.0.1", 0}, test_app(), quiet());
    server.start();
    std::string r = round_trip(server, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 200 OK\r\n"));
    CHECK(r.find("\r\nContent-Length: 5\r\n") != std::string::npos);
    CHECK(r.find("\r\nDate: ") != std::string::npos);
    CHECK(r.find("\r\nServer: gev\r\n") != std::string::npos);
    CHECK(r.find("\r\nConnection: close\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 5) == "hello");

    r = round_trip(server, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 200 OK\r\n"));
    CHECK(r.find("Content-Length: 5\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 4) == "\r\n\r\n");  // no body

    r = round_trip(server, "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 404 Not Found\r\n"));
    r = round_trip(server, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 405 Method Not Allowed\r\n"));
    CHECK(r.find("\r\nAllow: POST, PUT\r\n") != std::string::npos);

    r = round_trip(server, "GET /n/42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.substr(r.size() - 4) == "n=42");
    r = round_trip(server,
                   "GET /files/a/b%20c.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.substr(r.size() - 9) == "a/b c.txt");
    r = round_trip(server,
                   "GET /query?a=x%20y&b=1+2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.substr(r.size() - 11) == "a=x y b=1 2");

    // HTTP/1.0: no Host needed, connection closes after the response.
    r = round_trip(server, "GET / HTTP/1.0\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.0 200 OK\r\n"));
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("keep-alive, max requests per connection, and 16-deep pipelining answered in order") {
  FdBaseline fds;
  {
    ServerOptions o = quiet();
    o.max_requests_per_connection = 3;
    Server server({"127.0.0.1", 0}, test_app(), o);
    server.start();
    Socket c = connect(server);
    std::string pending;
    for (int i = 0; i < 3; ++i) {
      c.sendall("GET /n/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
      const std::string r = read_response(c, pending);
      CHECK(starts_with(r, "HTTP/1.1 200 OK"));
      CHECK(r.substr(r.size() - 3) == "n=" + std::to_string(i));
      // The third (last allowed) response says it closes.
      CHECK((r.find("Connection: close") != std::string::npos) == (i == 2));
    }
    CHECK(read_all(c).empty());  // then the server closes
    CHECK(server.stop(5s));
  }
  {
    Server server({"127.0.0.1", 0}, test_app(), quiet());
    server.start();
    Socket c = connect(server);
    std::string burst;
    for (int i = 0; i < 16; ++i)
      burst += "GET /n/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    burst += "GET /n/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    c.sendall(burst);
    const std::string all = read_all(c);
    CHECK(count(all, "HTTP/1.1 200 OK") == 17);
    std::size_t pos = 0;
    for (int i = 0; i < 16; ++i) {
      const auto at = all.find("n=" + std::to_string(i) + "HTTP/1.1", pos);
      const auto at_end = all.find("n=" + std::to_string(i), pos);
      CHECK(at_end != std::string::npos);
      (void)at;
      pos = at_end;
    }
    CHECK(all.substr(all.size() - 6) == "n=last");
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("every rejected framing shape: 400/501, connection closed, nothing after it answered") {
  FdBaseline fds;
  {
    int handled = 0;
    App app;
    app.route("/",
              [&](Request& r) {
                ++handled;
                r.body();
                return Response{200, "ok"};
              },
              {"GET", "POST"});
    Server server({"127.0.0.1", 0}, app, quiet());
    server.start();
    struct Shape {
      const char* name;
      std::string raw;
      int status;
    };
    // Each is followed by a smuggled second request that must never be answered.
    const std::string smuggled = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::vector<Shape> shapes = {
        {"CL and TE",
         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n",
         400},
        {"two different CL",
         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400},
        {"two equal CL",
         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", 400},
        {"TE gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"TE gzip, chunked",
         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
        {"two TE",
         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n",
         400},
        {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"bad chunk size",
         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
         400},
        {"chunk size overflow",
         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
         "chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n",
         400},
        {"negative CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
        {"CL with sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd", 400},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400},
        {"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
        {"bare CR", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
        {"no Host on 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
        {"two Host", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
        {"garbage request line", "HELLO\r\n\r\n", 400},
        {"bad version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400},
        {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 400},
        {"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400},
    };
    for (const Shape& s : shapes) {
      const std::string shape = s.name;
      CAPTURE(shape);
      const std::string r = round_trip(server, s.raw + smuggled);
      CHECK(starts_with(r, "HTTP/1.1 " + std::to_string(s.status) + " "));
      CHECK(r.find("Connection: close") != std::string::npos);
      CHECK(count(r, "HTTP/1.1 ") == 1);  // the smuggled request got nothing
    }
    CHECK(handled == 2);  // only the two chunk-size errors reach a handler (in its body read)
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("limits: 414, 431 (size and count), 413, 417, and the slowloris deadline (408)") {
  FdBaseline fds;
  {
    ServerOptions o = quiet();
    o.max_body_bytes = 1000;
    o.header_timeout = 300ms;
    Server server({"127.0.0.1", 0}, test_app(), o);
    server.start();
    std::string r =
        round_trip(server, "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 414 "));
    r = round_trip(server,
                   "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40000, 'b') + "\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 431 "));
    std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    r = round_trip(server, many + "\r\n");
    CHECK(starts_with(r, "HTTP/1.1 431 "));
    r = round_trip(server, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" +
                               std::string(2000, 'c'));
    CHECK(starts_with(r, "HTTP/1.1 413 "));
    std::string chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) chunked += "200\r\n" + std::string(512, 'd') + "\r\n";
    r = round_trip(server, chunked + "0\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 413 "));
    r = round_trip(server, "GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 417 "));

    // Slowloris: one byte every 50 ms never completes the header in 300 ms -> 408 and closed,
    // while a normal client on another connection is served meanwhile.
    const auto start = Clock::now();
    auto slow = gev::spawn([&] {
      Socket c = connect(server);
      const std::string header = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(100, 's');
      for (char ch : header) {
        try {
          c.sendall(std::string(1, ch));
        } catch (const std::system_error&) {
          break;  // the server closed on us
        }
        gev::sleep(50ms);
        if (Clock::now() - start > 3s) break;
      }
      return read_all(c);
    });
    gev::sleep(100ms);
    r = round_trip(server, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(starts_with(r, "HTTP/1.1 200 OK"));
    const std::string slow_reply = slow->get();
    CHECK(starts_with(slow_reply, "HTTP/1.1 408 "));
    CHECK(Clock::now() - start < 3s);
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("request bodies: Content-Length, chunked, 100-continue, unread bodies, early close") {
  FdBaseline fds;
  {
    ServerOptions o = quiet();
    o.max_drain_bytes = 100;
    o.body_timeout = 300ms;
    Server server({"127.0.0.1", 0}, test_app(), o);
    server.start();
    std::string r = round_trip(
        server,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    CHECK(r.substr(r.size() - 16) == "len=5 body=hello");
    r = round_trip(server,
                   "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: "
                   "close\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: t\r\n\r\n");
    CHECK(r.substr(r.size() - 18) == "len=7 body=abcdefg");

    // 100-continue: nothing is sent until the handler reads; then "100 Continue", then the answer.
    {
      Socket c = connect(server);
      c.sendall(
          "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
      std::string pending;
      char buf[256];
      const std::size_t n = c.recv(buf, sizeof buf);
      pending.assign(buf, n);
      CHECK(starts_with(pending, "HTTP/1.1 100 Continue\r\n\r\n"));
      c.sendall("wxyz");
      pending.erase(0, std::string("HTTP/1.1 100 Continue\r\n\r\n").size());
      const std::string resp = read_response(c, pending);
      CHECK(resp.substr(resp.size() - 15) == "len=4 body=wxyz");
    }
    // 100-continue and a handler that never reads: no 100, and the connection is closed after.
    {
      Socket c = connect(server);
      c.sendall(
          "POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
      const std::string all = read_all(c);
      CHECK(all.find("100 Continue") == std::string::npos);
      CHECK(starts_with(all, "HTTP/1.1 200 OK"));
      CHECK(all.find("Connection: close") != std::string::npos);
    }
    // A small unread body is drained and the connection kept; a large one closes it.
    {
      Socket c = connect(server);
      c.sendall(
          "POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
          "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const std::string all = read_all(c);
      CHECK(count(all, "HTTP/1.1 200 OK") == 2);
      CHECK(all.substr(all.size() - 5) == "hello");
    }
    {
      Socket c = connect(server);
      c.sendall("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
      const std::string all = read_all(c);
      CHECK(count(all, "HTTP/1.1 200 OK") == 1);
      CHECK(all.find("Connection: close") != std::string::npos);
    }
    // The client stops sending inside the body: 408 after body_timeout; or closes: no answer.
    r = round_trip(server, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    CHECK(starts_with(r, "HTTP/1.1 408 "));
    {
      Socket c = connect(server);
      c.sendall("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
      c.shutdown(SHUT_WR);
      const std::string all = read_all(c);
      CHECK((all.empty() || starts_with(all, "HTTP/1.1 400 ")));
    }
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE(
    "streamed responses are chunked (close-delimited on HTTP/1.0); a throwing handler is a 500") {
  FdBaseline fds;
  {
    Server server({"127.0.0.1", 0}, test_app(), quiet());
    server.start();
    std::string r =
        round_trip(server, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(r.find("7\r\npiece0;\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 5) == "0\r\n\r\n");
    r = round_trip(server, "GET /stream HTTP/1.0\r\n\r\n");
    CHECK(r.find("Transfer-Encoding") == std::string::npos);
    CHECK(r.substr(r.size() - 35) == "piece0;piece1;piece2;piece3;piece4;");
    r = round_trip(server, "HEAD /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.find("piece") == std::string::npos);

    std::string reported;
    auto previous =
        gev::set_error_hook([&](const gev::ErrorReport& e) { reported = std::string(e.context); });
    r = round_trip(server, "GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
    gev::set_error_hook(previous);
    CHECK(starts_with(r, "HTTP/1.1 500 "));
    CHECK(reported.find("GET /throw") != std::string::npos);
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("keep-alive idle timeout closes the connection; stop() closes idle ones at once") {
  FdBaseline fds;
  {
    ServerOptions o = quiet();
    o.keepalive_timeout = 200ms;
    Server server({"127.0.0.1", 0}, test_app(), o);
    server.start();
    Socket c = connect(server);
    std::string pending;
    c.sendall("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(starts_with(read_response(c, pending), "HTTP/1.1 200 OK"));
    const auto start = Clock::now();
    CHECK(read_all(c).empty());
    CHECK(Clock::now() - start >= 150ms);
    CHECK(Clock::now() - start < 3s);

    Socket idle = connect(server);
    idle.sendall("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    pending.clear();
    CHECK(starts_with(read_response(idle, pending), "HTTP/1.1 200 OK"));
    CHECK(server.stop(5s));
    CHECK(read_all(idle).empty());
  }
  fds.check();
}

TEST_CASE("workers = 2: two hubs on one port share the connections; stop() ends both") {
  FdBaseline fds;
  {
    std::mutex m;
    std::set<std::thread::id> threads;
    gev::http::Handler h = [&](Request&) {
      std::lock_guard lock(m);
      threads.insert(std::this_thread::get_id());
      return Response{200, "ok"};
    };
    ServerOptions o = quiet();
    o.workers = 2;
    Server server({"127.0.0.1", 0}, h, o);
    server.start();
    CHECK(server.workers_running() == 1);
    for (int i = 0; i < 60; ++i) {
      const std::string r =
          round_trip(server, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      CHECK(starts_with(r, "HTTP/1.1 200 OK"));
    }
    {
      std::lock_guard lock(m);
      CHECK(threads.size() == 2);  // 60 connections never all hash to one listener in practice
    }
    CHECK(server.stop(5s));
    CHECK(server.workers_running() == 0);
    Socket probe(AF_INET, SOCK_STREAM);
    CHECK_THROWS(probe.connect(server.address()));  // nobody listens any more
  }
  fds.check();
}

TEST_CASE("serve_forever stops gracefully on SIGTERM; a second signal ends the rest at once") {
  FdBaseline fds;
  {
    App app;
    app.route("/slow", [](Request&) {
      gev::sleep(30s);
      return Response{200, "late"};
    });
    ServerOptions o = quiet();
    o.graceful_timeout = 20s;
    Server server({"127.0.0.1", 0}, app, o);
    auto runner = gev::spawn([&] { server.serve_forever(); });
    gev::sleep(20ms);
    auto client = gev::spawn([&] {
      return round_trip(server, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    });
    gev::sleep(50ms);
    const auto start = Clock::now();
    ::kill(::getpid(), SIGTERM);  // graceful: waits for /slow ...
    gev::sleep(100ms);
    CHECK_FALSE(runner->ready());
    ::kill(::getpid(), SIGQUIT);  // ... until the second signal
    CHECK(runner->join(10s));
    CHECK(Clock::now() - start < 10s);
    CHECK(client->join(10s));
    CHECK(client->get().find("late") == std::string::npos);
  }
  fds.check();
}

TEST_CASE("101 Upgrade: the handler takes the connection, bytes sent early included") {
  FdBaseline fds;
  {
    App app;
    app.route("/tunnel", [](Request&) {
      return Response::upgrade("echo", [](gev::http::Tunnel& t) {
        char buf[64];
        for (int i = 0; i < 10; ++i) {
          const std::size_t n = t.recv(buf, sizeof buf);
          if (n == 0) return;
          t.sendall("echo:" + std::string(buf, n) + ";");
        }
      });
    });
    Server server({"127.0.0.1", 0}, app, quiet());
    server.start();
    Socket c = connect(server);
    c.sendall(
        "GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello");
    std::string got;
    char buf[512];
    for (int i = 0; i < 50 && got.find("echo:hello;") == std::string::npos; ++i) {
      got.append(buf, c.recv(buf, sizeof buf));
    }
    CHECK(starts_with(got, "HTTP/1.1 101 Switching Protocols\r\n"));
    CHECK(got.find("\r\nUpgrade: echo\r\n") != std::string::npos);
    CHECK(got.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
    CHECK(got.find("\r\n\r\necho:hello;") != std::string::npos);
    c.sendall("again");
    got.clear();
    for (int i = 0; i < 50 && got.find("echo:again;") == std::string::npos; ++i) {
      got.append(buf, c.recv(buf, sizeof buf));
    }
    CHECK(got == "echo:again;");
    c.shutdown(SHUT_WR);
    CHECK(read_all(c).empty());
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("stop() lets a request whose header is still arriving finish; the access log") {
  FdBaseline fds;
  {
    Server server({"127.0.0.1", 0}, test_app(), quiet());
    server.start();
    Socket c = connect(server);
    c.sendall("GET / HTTP/1.1\r\nHost: x\r\n");
    gev::sleep(20ms);
    auto stopper = gev::spawn([&] { return server.stop(2s); });
    gev::sleep(10ms);
    c.sendall("\r\n");
    const std::string r = read_all(c);
    CHECK(starts_with(r, "HTTP/1.1 200 OK"));
    CHECK(r.find("Connection: close") != std::string::npos);
    CHECK(stopper->get());
  }
  {
    std::FILE* log = std::tmpfile();
    REQUIRE(log != nullptr);
    ServerOptions o;
    o.access_log = log;
    o.max_body_bytes = 10;
    Server server({"127.0.0.1", 0}, test_app(), o);
    server.start();
    round_trip(server,
               "GET /n/1?q=\"x\" HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\" \"forged\r\nConnection: "
               "close\r\n\r\n");
    round_trip(server, "POST /echo?y=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" +
                           std::string(50, 'z'));
    // Flushed per line: readable at once, without closing the FILE.
    std::rewind(log);
    char buf[4096] = {};
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, log);
    const std::string text(buf, n);
    INFO(text);
    CHECK(count(text, "\n") == 2);
    CHECK(text.find("127.0.0.1 - - [") == 0);
    CHECK(text.find("\"GET /n/1?q=\\\"x\\\" HTTP/1.1\" 200 3 \"-\" \"evil\\\" \\\"forged\"\n") !=
          std::string::npos);
    CHECK(text.find("\"POST /echo?y=2 HTTP/1.1\" 413 ") != std::string::npos);
    CHECK(server.stop(5s));
    std::fclose(log);
  }
  fds.check();
}
