// gev::http client against gev's own server (in this thread) and against raw misbehaving
// servers written with gev::net: keep-alive reuse and stale connections, bodies framed every
// way, truncation as an error, gzip/deflate, redirects, timeouts, refused connections, invalid
// URLs, ranges, streaming, size limits, HTTPS verification, and a CONNECT proxy.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <functional>
#include <string>

#include <gev/http/app.hpp>
#include <gev/http/client.hpp>
#include <gev/http/server.hpp>
#include <gev/net/ssl_context.hpp>
#include <gev/net/stream_server.hpp>

#include "net/net_support.hpp"
#include "net/ssl_support.hpp"

using namespace std::chrono_literals;
using gev::http::App;
using gev::http::Client;
using gev::http::ClientError;
using gev::http::Request;
using gev::http::RequestOptions;
using gev::http::Response;
using gev::http::Server;
using gev::net::Socket;
using Kind = gev::http::ClientError::Kind;

namespace {

gev::http::ServerOptions quiet() {
  gev::http::ServerOptions o;
  o.access_log = nullptr;
  return o;
}

std::string compress(const std::string& data, int window_bits) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Bytes that differ from position to position, so a misplaced block shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
  return s;
}

std::string read_file(int fd) {
  std::string out;
  char buf[65536];
  for (off_t at = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
    at += n;
  }
}

std::string big_text() {
  std::string s;
  for (int i = 0; i < 20000; ++i) s += "line " + std::to_string(i) + " of a compressible body\n";
  return s;
}

App client_app() {
  App app;
  app.route("/", [](Request&) { return Response::text(200, "root"); });
  app.route("/echo",
            [](Request& r) {
              return Response::text(200, r.method() + " " + r.body() +
                                             " ct=" + std::string(r.header("Content-Type")));
            },
            {"GET", "POST", "PUT"});
  app.route("/stream", [](Request&) {
    return Response::stream(200, [](gev::http::BodyWriter& w) {
      for (int i = 0; i < 1000; ++i) w.write("chunk" + std::to_string(i) + "\n");
    });
  });
  app.route("/gzip", [](Request&) {
    Response r(200, compress(big_text(), 15 + 16), "text/plain");
    r.set_header("Content-Encoding", "gzip");
    return r;
  });
  app.route("/deflate-zlib", [](Request&) {
    Response r(200, compress(big_text(), 15), "text/plain");
    r.set_header("Content-Encoding", "deflate");
    return r;
  });
  app.route("/deflate-raw", [](Request&) {
    Response r(200, compress(big_text(), -15), "text/plain");
    r.set_header("Content-Encoding", "deflate");
    return r;
  });
  app.route("/redirect/<n>", [](Request& r) {
    const int n = std::stoi(r.param("n"));
    Response resp = Response::text(302, "");
    resp.set_header("Location", n > 0 ? "/redirect/" + std::to_string(n - 1) : "/");
    return resp;
  });
  app.route("/redirect-with-body", [](Request&) {
    Response resp = Response::text(302, "this redirect's own body must not be saved");
    resp.set_header("Location", "/");
    return resp;
  });
  app.route("/loop", [](Request&) {
    Response resp = Response::text(301, "");
    resp.set_header("Location", "/loop");
    return resp;
  });
  app.route("/see-other",
            [](Request&) {
              Response resp = Response::text(303, "");
              resp.set_header("Location", "echo");  // relative
              return resp;
            },
            {"POST"});
  app.route("/keep-post",
            [](Request&) {
              Response resp = Response::text(307, "");
              resp.set_header("Location", "/echo");
              return resp;
            },
            {"POST"});
  app.route("/slow", [](Request&) {
    gev::sleep(2s);
    return Response::text(200, "late");
  });
  app.route("/big", [](Request&) { return Response::text(200, std::string(100000, 'x')); });
  app.route("/file/<n>",
            [](Request& r) { return Response::text(200, pattern(std::stoul(r.param("n")))); });
  app.route("/chunked-file/<n>", [](Request& r) {
    const std::size_t n = std::stoul(r.param("n"));
    return Response::stream(200, [n](gev::http::BodyWriter& w) {
      const std::string all = pattern(n);
      for (std::size_t at = 0; at < n; at += 100000) w.write(all.substr(at, 100000));
    });
  });
  app.route("/range",
            [](Request& r) { return Response::text(200, std::string(r.header("Range"))); });
  return app;
}

// A server that answers every connection with `reply` and closes.
struct RawServer {
  gev::net::StreamServer server;
  explicit RawServer(std::string reply)
      : server({"127.0.0.1", 0}, [reply](Socket& s, const gev::net::Address&) {
          char buf[4096];
          s.settimeout(5s);
          try {
            s.recv(buf, sizeof buf);
            s.sendall(reply);
          } catch (const std::exception&) {
          }
        }) {
    server.start();
  }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(server.address().port()) + path;
  }
};

ClientError::Kind error_kind(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ClientError& e) {
    MESSAGE(std::string(e.what()));
    return e.kind();
  }
  FAIL("no ClientError");
  return Kind::protocol;
}

}  // namespace

TEST_CASE("client against gev's server: methods, keep-alive reuse, bodies, encodings, redirects") {
  gev::test::FdBaseline fds;
  {
    Server server({"127.0.0.1", 0}, client_app(), quiet());
    server.start();
    const std::string base = "http://127.0.0.1:" + std::to_string(server.address().port());
    gev::http::ClientOptions co;
    co.use_env_proxy = false;
    Client client(co);

    auto r = client.get(base + "/");
    CHECK(r.status == 200);
    CHECK(r.body == "root");
    CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
    CHECK_FALSE(r.reused_connection);
    r = client.get(base + "/");
    CHECK(r.reused_connection);  // keep-alive
    CHECK(client.idle_connections() == 1);

    RequestOptions post;
    post.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    r = client.post(base + "/echo", "a=1&b=2", post);
    CHECK(r.body == "POST a=1&b=2 ct=application/x-www-form-urlencoded");

    r = client.get(base + "/stream");
    CHECK(r.body.size() > 5000);
    CHECK(r.body.rfind("chunk999\n") == r.body.size() - 9);

    for (const char* path : {"/gzip", "/deflate-zlib", "/deflate-raw"}) {
      CAPTURE(std::string(path));
      r = client.get(base + path);
      CHECK(r.body == big_text());
    }
    RequestOptions raw;
    raw.decompress = false;
    r = client.get(base + "/gzip", raw);
    CHECK(r.body == compress(big_text(), 15 + 16));

    std::string streamed;
    int pieces = 0;
    r = client.stream(base + "/gzip", [&](std::string_view piece) {
      streamed += piece;
      ++pieces;
    });
    CHECK(r.body.empty());
    CHECK(streamed == big_text());
    CHECK(pieces >= 1);

    // on_head sees only the final response, before its body; redirect bodies are dropped.
    std::vector<int> heads;
    std::string kept;
    r = client.stream(
        base + "/redirect-with-body",
        [&](const gev::http::ClientResponse& head) {
          heads.push_back(head.status);
          CHECK(kept.empty());
          CHECK(head.header("Content-Length") == "4");
        },
        [&](std::string_view piece) { kept += piece; });
    CHECK(heads == std::vector<int>{200});
    CHECK(kept == "root");
    CHECK(r.redirects == 1);
    kept.clear();
    r = client.stream(base + "/redirect-with-body", [&](std::string_view p) { kept += p; });
    CHECK(kept == "root");
    // Throwing from on_head refuses the body; the connection is dropped, the client still works.
    struct Refused {};
    CHECK_THROWS_AS(client.stream(
                        base + "/gzip", [](const gev::http::ClientResponse&) { throw Refused{}; },
                        [&](std::string_view p) { kept += p; }),
                    Refused);
    CHECK(kept == "root");
    CHECK(client.get(base + "/").body == "root");

    r = client.get(base + "/redirect/3");
    CHECK(r.status == 200);
    CHECK(r.body == "root");
    CHECK(r.redirects == 4);
    CHECK(r.url == base + "/");
    CHECK(error_kind([&] { client.get(base + "/loop"); }) == Kind::too_many_redirects);
    RequestOptions no_follow;
    no_follow.follow_redirects = false;
    CHECK(client.get(base + "/loop", no_follow).status == 301);
    r = client.post(base + "/see-other", "data", post);
    CHECK(r.body == "GET  ct=");  // 303: GET without the body
    r = client.post(base + "/keep-post", "data", post);
    CHECK(r.body == "POST data ct=application/x-www-form-urlencoded");  // 307 keeps it

    RequestOptions range;
    range.range = {{100, 199}};
    CHECK(client.get(base + "/range", range).body == "bytes=100-199");
    range.range = {{500, std::nullopt}};
    CHECK(client.get(base + "/range", range).body == "bytes=500-");

    RequestOptions quick;
    quick.read_timeout = 200ms;
    CHECK(error_kind([&] { client.get(base + "/slow", quick); }) == Kind::timeout);
    RequestOptions total;
    total.timeout = 300ms;
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(error_kind([&] { client.get(base + "/slow", total); }) == Kind::timeout);
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);

    RequestOptions small;
    small.max_body_bytes = 1000;
    CHECK(error_kind([&] { client.get(base + "/big", small); }) == Kind::too_large);

    r = client.request(base + "/", RequestOptions{.method = "HEAD"});
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(r.header("Content-Length") == "4");

    // The server closes an idle kept-alive connection: the next request retries on a new one.
    client.get(base + "/");
    CHECK(server.stop(5s));
    Server again({"127.0.0.1", server.address().port()}, client_app(), quiet());
    again.start();
    r = client.get(base + "/");
    CHECK(r.status == 200);
    CHECK_FALSE(r.reused_connection);
    client.close_idle();
    CHECK(again.stop(5s));
  }
  fds.check();
}

TEST_CASE("stream_to_file: spliced and written bodies land at their offset, prefixes, truncation") {
  gev::test::FdBaseline fds;
  char path[] = "/tmp/gev-stream-to-file-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  {
    Server server({"127.0.0.1", 0}, client_app(), quiet());
    server.start();
    const std::string base = "http://127.0.0.1:" + std::to_string(server.address().port());
    Client client(gev::http::ClientOptions{.use_env_proxy = false});
    std::uint64_t progressed = 0;
    auto count = [&](std::uint64_t n) { progressed += n; };
    RequestOptions raw;
    raw.decompress = false;

    // 3 MB with Content-Length: the splice path, at offset 1000, twice on one connection.
    for (int round = 0; round < 2; ++round) {
      REQUIRE(::ftruncate(fd, 0) == 0);
      progressed = 0;
      int heads = 0;
      auto r = client.stream_to_file(
          base + "/file/3000000",
          [&](const gev::http::ClientResponse& head) {
            ++heads;
            CHECK(head.status == 200);
            return gev::http::FileTarget{fd, 1000};
          },
          count, raw);
      CHECK(heads == 1);
      CHECK(r.body.empty());
      CHECK(progressed == 3000000);
      const std::string got = read_file(fd);
      REQUIRE(got.size() == 3001000);
      CHECK(got.substr(0, 1000) == std::string(1000, '\0'));
      CHECK(got.substr(1000) == pattern(3000000));
      CHECK(r.reused_connection == (round == 1));
    }
    // A prefix of the body (an open-ended range a downloader only wants part of).
    REQUIRE(::ftruncate(fd, 0) == 0);
    auto r = client.stream_to_file(
        base + "/file/3000000",
        [&](const gev::http::ClientResponse&) {
          return gev::http::FileTarget{fd, 0, 700001};
        },
        count, raw);
    CHECK(read_file(fd) == pattern(700001));
    CHECK(client.get(base + "/").body == "root");  // the half-read connection was not pooled
    // Chunked: the parser and pwrite path, same result.
    REQUIRE(::ftruncate(fd, 0) == 0);
    client.stream_to_file(
        base + "/chunked-file/1000000",
        [&](const gev::http::ClientResponse&) {
          return gev::http::FileTarget{fd, 0};
        },
        count, raw);
    CHECK(read_file(fd) == pattern(1000000));
    // on_progress may stop the transfer by throwing.
    struct Stop {};
    std::uint64_t seen = 0;
    CHECK_THROWS_AS(client.stream_to_file(
                        base + "/file/3000000",
                        [&](const gev::http::ClientResponse&) {
                          return gev::http::FileTarget{fd, 0};
                        },
                        [&](std::uint64_t n) {
                          seen += n;
                          if (seen > 1000000) throw Stop{};
                        },
                        raw),
                    Stop);
    CHECK(server.stop(5s));
  }
  {
    // A Content-Length body that ends early, on the splice path: truncated, and what came is
    // in the file.
    Client client(gev::http::ClientOptions{.use_env_proxy = false});
    REQUIRE(::ftruncate(fd, 0) == 0);
    RawServer cut("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + pattern(600000));
    CHECK(error_kind([&] {
            client.stream_to_file(
                cut.url(),
                [&](const gev::http::ClientResponse&) {
                  return gev::http::FileTarget{fd, 0};
                },
                [](std::uint64_t) {});
          }) == Kind::truncated);
    CHECK(read_file(fd) == pattern(600000));
  }
  ::close(fd);
  fds.check();
}

TEST_CASE("client errors: refused, invalid URL, truncated bodies, garbage, closed without answer") {
  gev::test::FdBaseline fds;
  {
    Client client(gev::http::ClientOptions{.use_env_proxy = false});
    for (const char* bad : {"ftp://x/", "http://", "http://user:pw@host/", "http://h:99999/",
                            "not a url", "http://a b/"}) {
      CAPTURE(std::string(bad));
      CHECK(error_kind([&] { client.get(bad); }) == Kind::invalid_url);
    }
    int port = 0;
    {
      Socket s = gev::test::make_listener();
      port = s.local_address().port();
    }
    CHECK(error_kind([&] { client.get("http://127.0.0.1:" + std::to_string(port) + "/"); }) ==
          Kind::connect);

    RawServer short_cl("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..");
    CHECK(error_kind([&] { client.get(short_cl.url()); }) == Kind::truncated);
    RawServer short_chunked("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    CHECK(error_kind([&] { client.get(short_chunked.url()); }) == Kind::truncated);
    RawServer garbage("NOT HTTP AT ALL\r\n\r\n");
    CHECK(error_kind([&] { client.get(garbage.url()); }) == Kind::protocol);
    RawServer nothing("");
    CHECK(error_kind([&] { client.get(nothing.url()); }) == Kind::protocol);
    RawServer close_delimited("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
    CHECK(client.get(close_delimited.url()).body == "until the end");
    RawServer bad_gzip(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nxxxxx");
    CHECK(error_kind([&] { client.get(bad_gzip.url()); }) == Kind::protocol);
    RawServer with_100(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    CHECK(client.get(with_100.url()).body == "ok");
  }
  fds.check();
}

TEST_CASE("client HTTPS: verified by default, wrong CA refused, https->http redirect refused") {
  const auto& pki = gev::test::test_pki();
  REQUIRE_MESSAGE(pki.error.empty(), pki.error);
  App app;
  app.route("/", [](Request&) { return Response::text(200, "secure"); });
  app.route("/down", [](Request&) {
    Response r = Response::text(302, "");
    r.set_header("Location", "http://127.0.0.1:1/");
    return r;
  });
  Server server({"127.0.0.1", 0}, gev::net::ssl::Context::server(pki.server_cert, pki.server_key),
                app, quiet());
  server.start();
  const std::string base = "https://localhost:" + std::to_string(server.address().port());
  Client good(gev::http::ClientOptions{.ca_file = pki.ca, .use_env_proxy = false});
  auto r = good.get(base + "/");
  CHECK(r.body == "secure");
  CHECK(good.get(base + "/").reused_connection);
  CHECK(error_kind([&] { good.get(base + "/down"); }) == Kind::insecure_redirect);
  Client bad(gev::http::ClientOptions{.ca_file = pki.self_signed_cert, .use_env_proxy = false});
  CHECK(error_kind([&] { bad.get(base + "/"); }) == Kind::tls);
  CHECK(server.stop(5s));
}

namespace {

// A minimal forward proxy for the test: CONNECT tunnels, absolute-form requests forwarded
// (one request per connection, Connection: close). `refuse` answers CONNECT with 403.
struct TestProxy {
  int connects = 0, forwards = 0;
  bool refuse = false;
  gev::net::StreamServer server{{"127.0.0.1", 0},
                                [this](Socket& s, const gev::net::Address&) { serve(s); }};
  TestProxy() { server.start(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server.address().port()); }

  static void pipe(Socket& from, Socket& to) {
    char buf[16384];
    try {
      for (int i = 0; i < 100000; ++i) {
        const std::size_t n = from.recv(buf, sizeof buf);
        if (n == 0) break;
        to.sendall(buf, n);
      }
      to.shutdown(SHUT_WR);
    } catch (const std::exception&) {
    }
  }

  void serve(Socket& s) {
    s.settimeout(5s);
    std::string head;
    char ch;
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
      if (s.recv(&ch, 1) == 0) return;
      head.push_back(ch);
    }
    const std::string line = head.substr(0, head.find("\r\n"));
    if (line.rfind("CONNECT ", 0) == 0) {
      ++connects;
      if (refuse) {
        s.sendall(std::string_view("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
        return;
      }
      const std::string hostport = line.substr(8, line.find(' ', 8) - 8);
      const auto colon = hostport.rfind(':');
      Socket up = gev::net::create_connection(
          hostport.substr(0, colon),
          static_cast<std::uint16_t>(std::stoi(hostport.substr(colon + 1))), 5s);
      s.sendall(std::string_view("HTTP/1.1 200 Connection established\r\n\r\n"));
      auto back = gev::spawn([&] { pipe(up, s); });
      pipe(s, up);
      back->join(10s);
      return;
    }
    // "GET http://host:port/path HTTP/1.1": forward in origin form.
    ++forwards;
    const auto sp1 = line.find(' '), sp2 = line.rfind(' ');
    const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto u = gev::http::parse_url(target);
    if (!u) return;
    Socket up = gev::net::create_connection(u->host, u->port, 5s);
    up.sendall(line.substr(0, sp1 + 1) + u->target + line.substr(sp2) + head.substr(line.size()));
    pipe(up, s);
  }
};

}  // namespace

TEST_CASE("client through proxies: plain HTTP in absolute form, HTTPS through CONNECT, refusal") {
  const auto& pki = gev::test::test_pki();
  REQUIRE_MESSAGE(pki.error.empty(), pki.error);
  App app;
  app.route("/", [](Request& r) { return Response::text(200, "via " + std::string(r.target())); });
  Server plain({"127.0.0.1", 0}, app, quiet());
  plain.start();
  Server tls({"127.0.0.1", 0}, gev::net::ssl::Context::server(pki.server_cert, pki.server_key), app,
             quiet());
  tls.start();
  TestProxy proxy;
  gev::http::ClientOptions co;
  co.use_env_proxy = false;
  co.http_proxy = proxy.url();
  co.https_proxy = proxy.url();
  co.ca_file = pki.ca;
  Client client(co);
  auto r = client.get("http://127.0.0.1:" + std::to_string(plain.address().port()) + "/?x=1");
  CHECK(r.body == "via /?x=1");
  CHECK(proxy.forwards == 1);
  r = client.get("https://localhost:" + std::to_string(tls.address().port()) + "/");
  CHECK(r.body == "via /");
  CHECK(proxy.connects == 1);
  proxy.refuse = true;
  client.close_idle();
  CHECK(error_kind([&] {
          client.get("https://localhost:" + std::to_string(tls.address().port()) + "/");
        }) == Kind::proxy);
  CHECK(plain.stop(5s));
  CHECK(tls.stop(5s));
}
