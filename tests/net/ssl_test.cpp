// net::ssl on loopback, with a throwaway PKI made by the openssl tool: a verified handshake and
// echo through a TLS StreamServer (version, cipher, subject, SNI, IP literals); each refused
// certificate (wrong host or IP, expired, self-signed, unknown CA) failing with its reason, the
// peer named and no application byte reaching the server; our client against `openssl s_server`
// and `openssl s_client` against our server; ALPN; handshake timeouts and resets on both sides;
// Beast's http::write/http::read over the stream (and a ragged EOF after a complete response);
// 4 MB both ways at once; recv timeouts, unwrap, mutual TLS, close from another greenlet, an
// interrupted write poisoning the write side, write_some's error_code on a closed stream, a
// handshake shared by a reader and a writer, std::terminate for a stream destroyed under a parked
// greenlet, configuration errors. The descriptor count is back at its baseline after every case.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <gev/net/ssl_context.hpp>
#include <gev/net/ssl_error.hpp>
#include <gev/net/ssl_stream.hpp>
#include <gev/net/stream_server.hpp>

#include "net/net_support.hpp"
#include "net/ssl_support.hpp"

using namespace std::chrono_literals;
namespace ssl = gev::net::ssl;
namespace http = boost::beast::http;
using gev::net::Address;
using gev::net::Socket;
using gev::net::StreamServer;
using gev::test::echo_once;
using gev::test::FdBaseline;
using gev::test::make_listener;
using gev::test::read_to_eof;
using gev::test::test_pki;
using gev::test::wait_until;

static_assert(std::is_base_of_v<std::system_error, ssl::Error>);
static_assert(std::is_base_of_v<ssl::Error, ssl::CertificateError>);
static_assert(std::is_nothrow_move_constructible_v<ssl::Stream>);
static_assert(boost::beast::is_sync_read_stream<ssl::Stream>::value);
static_assert(boost::beast::is_sync_write_stream<ssl::Stream>::value);

namespace {

using Clock = std::chrono::steady_clock;

const gev::test::TestPki& pki() {
  const auto& p = test_pki();
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  return p;
}

void pause_in_hub() {
  gev::sleep(5ms);
}

ssl::Context client_context(std::vector<std::string> alpn = {}) {
  ssl::ContextOptions o;
  o.ca_file = pki().ca;
  o.alpn_protocols = std::move(alpn);
  return ssl::Context::client(o);
}

ssl::Context server_context(const std::string& cert, const std::string& key,
                            std::vector<std::string> alpn = {}) {
  ssl::ContextOptions o;
  o.cert_chain_file = cert;
  o.key_file = key;
  o.alpn_protocols = std::move(alpn);
  return ssl::Context::server(o);
}

ssl::Context good_server_context(std::vector<std::string> alpn = {}) {
  return server_context(pki().server_cert, pki().server_key, std::move(alpn));
}

Socket connect_to(std::uint16_t port) {
  return gev::net::create_connection("127.0.0.1", port, 10s);
}

// OpenSSL's first use (error strings, the random generator) may keep descriptors and memory for
// the life of the process: do it before a descriptor baseline is taken.
void warm_up() {
  static bool done = false;
  if (done) return;
  done = true;
  StreamServer server({"127.0.0.1", 0}, good_server_context(),
                      [](ssl::Stream& c, const Address&) { c.sendall("warm"); });
  server.start();
  ssl::Stream s =
      ssl::wrap_client(connect_to(server.address().port()), "localhost", client_context());
  char buf[8];
  for (int i = 0; i < 100 && s.recv(buf, sizeof buf) != 0; ++i) {
  }
  s.close();
  server.stop(5s);
  (void)ssl::detail::take_openssl_errors();
}

void echo_tls(ssl::Stream& client, const Address&) {
  char buf[16384];
  for (int i = 0; i < 1000000; ++i) {
    std::size_t n = client.recv(buf, sizeof buf);
    if (n == 0) break;
    client.sendall(buf, n);
  }
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

template <class E, class F>
std::optional<E> catch_as(F&& fn, std::string* other = nullptr) {
  try {
    fn();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    if (other) *other = e.what();
  }
  return std::nullopt;
}

// A TLS StreamServer whose handler counts its runs and the application bytes it received.
struct CountingServer {
  int runs = 0;
  std::size_t bytes = 0;
  std::string sni = "<none>";
  StreamServer server;

  explicit CountingServer(const ssl::Context& context, StreamServer::Options options = {})
      : server(
            {"127.0.0.1", 0}, context,
            [this](ssl::Stream& c, const Address&) {
              ++runs;
              sni = c.server_hostname();
              char buf[4096];
              for (int i = 0; i < 100000; ++i) {
                std::size_t n = c.recv(buf, sizeof buf);
                if (n == 0) break;
                bytes += n;
                c.sendall(buf, n);
              }
            },
            options) {
    server.start();
  }
  std::uint16_t port() const { return server.address().port(); }
};

// A pseudo-random payload (xorshift), so a misplaced block cannot compare equal.
std::string payload(std::size_t size, std::uint64_t seed) {
  std::string out(size, '\0');
  std::uint64_t x = seed | 1;
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

}  // namespace

TEST_CASE("a verified client and a TLS StreamServer: echo, version, cipher, subject, SNI") {
  warm_up();
  FdBaseline fds;
  {
    gev::test::CaptureErrors errors;
    CountingServer srv(good_server_context());
    SUBCASE("by DNS name: SNI sent, name checked") {
      ssl::Stream s = ssl::wrap_client(connect_to(srv.port()), "localhost", client_context());
      CHECK(s.handshake_done());
      CHECK(s.role() == ssl::Role::client);
      CHECK(s.server_hostname() == "localhost");
      CHECK(s.version() == "TLSv1.3");
      CHECK_FALSE(s.cipher().empty());
      CHECK(s.peer_subject() == "CN=localhost");
      CHECK(s.peer_issuer() == "CN=gev test CA");
      CHECK(s.selected_alpn().empty());
      CHECK(s.fileno() == s.socket().fileno());
      CHECK(s.gettimeout() == std::optional<gev::Duration>(10s));
      CHECK(echo_once(s, "hello over TLS") == "hello over TLS");
      CHECK(echo_once(s, std::string(100000, 'x')) == std::string(100000, 'x'));
      s.close();
      CHECK_FALSE(s.is_open());
      CHECK(wait_until([&] { return srv.server.connections() == 0; }));
      CHECK(srv.sni == "localhost");
    }
    SUBCASE("by IP literal: no SNI, the address checked against the IP SAN") {
      ssl::Stream s = ssl::wrap_client(connect_to(srv.port()), "127.0.0.1", client_context());
      CHECK(echo_once(s, "by address") == "by address");
      s.close();
      CHECK(wait_until([&] { return srv.server.connections() == 0; }));
      CHECK(srv.sni.empty());
    }
    SUBCASE("TLS 1.2 when the client caps the version") {
      ssl::ContextOptions o;
      o.ca_file = pki().ca;
      o.max_version = ssl::TlsVersion::tls1_2;
      ssl::Stream s =
          ssl::wrap_client(connect_to(srv.port()), "localhost", ssl::Context::client(o));
      CHECK(s.version() == "TLSv1.2");
      CHECK(echo_once(s, "one point two") == "one point two");
    }
    SUBCASE("Stream::client: the handshake runs on first use") {
      ssl::Stream s = ssl::Stream::client(connect_to(srv.port()), "localhost", client_context());
      CHECK_FALSE(s.handshake_done());
      CHECK(s.version().empty());
      CHECK(echo_once(s, "lazy") == "lazy");
      CHECK(s.handshake_done());
    }
    CHECK(srv.server.stop(5s));
    CHECK(errors.count() == 0);
    for (const auto& r : errors.reports()) MESSAGE(r.context << ": " << r.description);
  }
  fds.check();
}

TEST_CASE("refused certificates: the reason and the peer are named, no application byte is sent") {
  warm_up();
  FdBaseline fds;
  struct Case {
    const char* name;
    std::string cert, key;
    std::string host;
    std::string reason;
  };
  const auto& p = pki();
  const std::vector<Case> cases = {
      {"wrong host name", p.server_cert, p.server_key, "example.com", "hostname mismatch"},
      {"wrong IP address", p.server_cert, p.server_key, "127.0.0.2", "IP address mismatch"},
      {"expired", p.expired_cert, p.expired_key, "localhost", "certificate has expired"},
      {"self-signed", p.self_signed_cert, p.self_signed_key, "localhost",
       "self-signed certificate"},
      {"unknown CA", p.unknown_ca_cert, p.unknown_ca_key, "localhost",
       "unable to get local issuer certificate"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    gev::test::CaptureErrors errors;
    CountingServer srv(server_context(c.cert, c.key));
    std::string other;
    auto e = catch_as<ssl::CertificateError>(
        [&] {
          ssl::Stream s = ssl::wrap_client(connect_to(srv.port()), c.host, client_context());
          s.sendall("must never be sent");  // not reached
        },
        &other);
    REQUIRE_MESSAGE(e.has_value(), "no CertificateError; got: " << other);
    const std::string what = e->what();
    INFO(what);
    CHECK(e->code() == ssl::errc::certificate_verify_failed);
    CHECK(e->verify_message() == c.reason);
    CHECK(e->verify_code() != 0);
    CHECK(contains(what, c.reason));
    CHECK(contains(what, "127.0.0.1:" + std::to_string(srv.port())));
    CHECK(contains(what, c.host));
    CHECK(contains(what, "CN=localhost"));
    // The server's handshake failed (the client's alert), its handler never ran.
    CHECK(wait_until([&] { return errors.count() == 1; }));
    CHECK(srv.runs == 0);
    CHECK(srv.bytes == 0);
    if (errors.count() == 1) {
      CHECK(contains(errors.reports()[0].context, "TLS handshake with 127.0.0.1:"));
      CHECK(gev::test::holds<ssl::Error>(errors.reports()[0].error));
    }
    CHECK(srv.server.stop(5s));
  }
  fds.check();
}

TEST_CASE("verification off, or the hostname check off, accepts those certificates") {
  warm_up();
  FdBaseline fds;
  {
    CountingServer srv(server_context(pki().self_signed_cert, pki().self_signed_key));
    SUBCASE("Verify::none") {
      ssl::ContextOptions o;
      o.verify = ssl::Verify::none;
      ssl::Stream s = ssl::wrap_client(connect_to(srv.port()), "anything", ssl::Context::client(o));
      CHECK(echo_once(s, "unverified") == "unverified");
    }
    SUBCASE("check_hostname = false still verifies the chain") {
      ssl::ContextOptions o;
      o.ca_file = pki().self_signed_cert;  // trust the self-signed certificate itself
      o.check_hostname = false;
      ssl::Stream s =
          ssl::wrap_client(connect_to(srv.port()), "other.example", ssl::Context::client(o));
      CHECK(echo_once(s, "chain only") == "chain only");
    }
    CHECK(srv.server.stop(5s));
  }
  fds.check();
}

TEST_CASE("our client against openssl s_server -www, with ALPN") {
  warm_up();
  FdBaseline fds;
  {
    int port = 0;
    std::string log;
    auto server =
        gev::test::start_s_server(pki(), {"-www", "-alpn", "http/1.1"}, pause_in_hub, &port, &log);
    REQUIRE_MESSAGE(server, "s_server did not start: " << log);
    ssl::Stream s = ssl::wrap_client(connect_to(static_cast<std::uint16_t>(port)), "localhost",
                                     client_context({"h2", "http/1.1"}));
    CHECK(s.selected_alpn() == "http/1.1");
    CHECK(s.peer_subject() == "CN=localhost");
    s.sendall("GET / HTTP/1.0\r\n\r\n");
    const std::string page = read_to_eof(s);
    INFO(page);
    CHECK(page.rfind("HTTP/1.0 200 ok\r\n", 0) == 0);
    CHECK(contains(page, "s_server"));
    CHECK(contains(page, "TLSv1.3"));
    s.close();
  }  // s_server killed here
  fds.check();
}

TEST_CASE("openssl s_client against our TLS StreamServer") {
  warm_up();
  FdBaseline fds;
  {
    gev::test::CaptureErrors errors;
    std::string sni, alpn, line;
    StreamServer server({"127.0.0.1", 0}, good_server_context({"http/1.1"}),
                        [&](ssl::Stream& c, const Address&) {
                          sni = c.server_hostname();
                          alpn = c.selected_alpn();
                          char buf[256];
                          for (int i = 0; i < 1000 && !contains(line, "\n"); ++i) {
                            std::size_t n = c.recv(buf, sizeof buf);
                            if (n == 0) break;
                            line.append(buf, n);
                          }
                          c.sendall("HELLO " + line);
                        });
    server.start();
    gev::test::ChildProcess client({"openssl", "s_client", "-connect",
                                    "127.0.0.1:" + std::to_string(server.address().port()),
                                    "-CAfile", pki().ca, "-servername", "localhost",
                                    "-verify_return_error", "-alpn", "h2,http/1.1"});
    REQUIRE(client.started());
    CHECK(client.wait_for_output("Verify return code: 0 (ok)", 20s, pause_in_hub));
    client.write_input("ping\n");
    CHECK(client.wait_for_output("HELLO ping", 20s, pause_in_hub));
    client.close_input();
    CHECK(client.wait_exit(20s, pause_in_hub) == 0);
    INFO(client.output());
    CHECK(contains(client.output(), "ALPN protocol: http/1.1"));
    CHECK(contains(client.output(), "subject=CN = localhost"));
    CHECK(sni == "localhost");
    CHECK(alpn == "http/1.1");
    CHECK(server.stop(5s));
    CHECK(errors.count() == 0);
  }
  fds.check();
}

TEST_CASE("ALPN: the server's preference among shared protocols; none shared, no ALPN") {
  warm_up();
  FdBaseline fds;
  struct Case {
    std::vector<std::string> server, client;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"http/1.1"}, {"h2", "http/1.1"}, "http/1.1"},
      {{"h2", "http/1.1"}, {"http/1.1", "h2"}, "h2"},
      {{"spdy/1"}, {"h2", "http/1.1"}, ""},
      {{"h2"}, {}, ""},
      {{}, {"h2"}, ""},
  };
  for (const Case& c : cases) {
    std::string server_saw = "<unset>";
    StreamServer server({"127.0.0.1", 0}, good_server_context(c.server),
                        [&](ssl::Stream& s, const Address&) {
                          server_saw = s.selected_alpn();
                          s.sendall("x");
                        });
    server.start();
    ssl::Stream s = ssl::wrap_client(connect_to(server.address().port()), "localhost",
                                     client_context(c.client));
    CHECK(s.selected_alpn() == c.expected);
    CHECK(read_to_eof(s) == "x");
    CHECK(server_saw == c.expected);
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("handshake timeouts: a listener that never speaks TLS, a client that never does") {
  warm_up();
  FdBaseline fds;
  SUBCASE("client side: net::timeout after the socket's timeout") {
    Socket listener = make_listener();  // never accepts: the backlog completes the connect
    Socket sock(AF_INET, SOCK_STREAM);
    sock.connect(listener.local_address());
    sock.settimeout(200ms);
    const auto t0 = Clock::now();
    auto e = catch_as<gev::net::timeout>(
        [&] { ssl::wrap_client(std::move(sock), "localhost", client_context()); });
    const auto elapsed = Clock::now() - t0;
    REQUIRE(e.has_value());
    CHECK(e->code() == std::errc::timed_out);
    CHECK(contains(e->what(), "TLS handshake with localhost (127.0.0.1:"));
    CHECK(contains(e->what(), "timed out after 0.200 s"));
    CHECK(elapsed >= 190ms);
    CHECK(elapsed < 5s);
  }
  SUBCASE("server side: handshake_timeout closes the connection, the server goes on") {
    gev::test::CaptureErrors errors;
    StreamServer::Options options;
    options.handshake_timeout = 200ms;
    CountingServer srv(good_server_context(), options);
    Socket idle = connect_to(srv.port());
    const auto t0 = Clock::now();
    CHECK(gev::test::read_to_eof(idle).empty());  // closed by the server
    const auto elapsed = Clock::now() - t0;
    CHECK(elapsed >= 150ms);
    CHECK(elapsed < 5s);
    REQUIRE(wait_until([&] { return errors.count() == 1; }));
    CHECK(contains(errors.reports()[0].context, "TLS handshake with 127.0.0.1:"));
    CHECK(gev::test::holds<gev::net::timeout>(errors.reports()[0].error));
    CHECK(srv.runs == 0);
    ssl::Stream s = ssl::wrap_client(connect_to(srv.port()), "localhost", client_context());
    CHECK(echo_once(s, "still serving") == "still serving");
    s.close();
    CHECK(srv.server.stop(5s));
  }
  fds.check();
}

TEST_CASE("a peer that resets or closes in the middle of the handshake") {
  warm_up();
  FdBaseline fds;
  SUBCASE("client side: reset after the ClientHello") {
    Socket listener = make_listener();
    auto peer = gev::spawn([&] {
      Socket c = listener.accept();
      char buf[512];
      c.recv(buf, sizeof buf);  // the ClientHello
      linger lg{1, 0};
      c.setsockopt(SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      c.close();  // RST
    });
    Socket sock = connect_to(listener.local_address().port());
    std::string other;
    auto e = catch_as<std::system_error>(
        [&] { ssl::wrap_client(std::move(sock), "localhost", client_context()); }, &other);
    REQUIRE_MESSAGE(e.has_value(), other);
    INFO(std::string(e->what()));
    CHECK(e->code() == std::errc::connection_reset);
    CHECK(contains(e->what(), "TLS handshake with localhost (127.0.0.1:"));
    CHECK(peer->join(5s));
  }
  SUBCASE("client side: the peer closes after the ClientHello") {
    Socket listener = make_listener();
    auto peer = gev::spawn([&] {
      Socket c = listener.accept();
      char buf[512];
      c.recv(buf, sizeof buf);
      c.close();
    });
    Socket sock = connect_to(listener.local_address().port());
    auto e = catch_as<ssl::Error>(
        [&] { ssl::wrap_client(std::move(sock), "localhost", client_context()); });
    REQUIRE(e.has_value());
    INFO(std::string(e->what()));
    CHECK(e->code() == ssl::errc::unexpected_eof);
    CHECK(contains(e->what(), "during the handshake"));
    CHECK(peer->join(5s));
  }
  SUBCASE("server side: plain HTTP, a truncated hello then a reset; the server goes on") {
    gev::test::CaptureErrors errors;
    CountingServer srv(good_server_context());
    {
      Socket plain = connect_to(srv.port());
      plain.sendall("GET / HTTP/1.0\r\n\r\n");
      CHECK(wait_until([&] { return errors.count() == 1; }));
      plain.close();
    }
    {
      Socket half = connect_to(srv.port());
      half.sendall(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
      gev::sleep(20ms);
      linger lg{1, 0};
      half.setsockopt(SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      half.close();
      CHECK(wait_until([&] { return errors.count() == 2; }));
    }
    REQUIRE(errors.count() == 2);
    CHECK(contains(errors.reports()[0].description, "http request"));
    CHECK(gev::test::holds<ssl::Error>(errors.reports()[0].error));
    CHECK(contains(errors.reports()[1].description, "Connection reset by peer"));
    CHECK(srv.runs == 0);
    ssl::Stream s = ssl::wrap_client(connect_to(srv.port()), "localhost", client_context());
    CHECK(echo_once(s, "after the bad ones") == "after the bad ones");
    s.close();
    CHECK(srv.server.stop(5s));
  }
  fds.check();
}

TEST_CASE("Beast http::write / http::read over a TLS stream") {
  warm_up();
  FdBaseline fds;
  SUBCASE("two keep-alive requests, Content-Length framing") {
    gev::test::CaptureErrors errors;
    int served = 0;
    StreamServer server({"127.0.0.1", 0}, good_server_context(),
                        [&](ssl::Stream& c, const Address&) {
                          boost::beast::flat_buffer buffer;
                          for (int i = 0; i < 10; ++i) {
                            http::request<http::string_body> req;
                            boost::system::error_code ec;
                            http::read(c, buffer, req, ec);
                            if (ec == http::error::end_of_stream) break;
                            REQUIRE_MESSAGE(!ec, ec.message());
                            http::response<http::string_body> res{http::status::ok, 11};
                            res.set(http::field::content_type, "text/plain");
                            res.body() = "you asked for " + std::string(req.target()) + " with " +
                                         std::to_string(req.body().size()) + " bytes";
                            res.keep_alive(req.keep_alive());
                            res.prepare_payload();
                            http::write(c, res);
                            ++served;
                          }
                        });
    server.start();
    ssl::Stream s =
        ssl::wrap_client(connect_to(server.address().port()), "localhost", client_context());
    boost::beast::flat_buffer buffer;
    for (int i = 1; i <= 2; ++i) {
      http::request<http::string_body> req{http::verb::post, "/item/" + std::to_string(i), 11};
      req.set(http::field::host, "localhost");
      req.body() = std::string(1000 * i, 'b');
      req.prepare_payload();
      http::write(s, req);
      http::response<http::string_body> res;
      http::read(s, buffer, res);
      CHECK(res.result() == http::status::ok);
      CHECK(res.body() == "you asked for /item/" + std::to_string(i) + " with " +
                              std::to_string(1000 * i) + " bytes");
    }
    s.shutdown();  // close_notify: the server's read ends with end_of_stream
    CHECK(wait_until([&] { return server.connections() == 0; }));
    CHECK(served == 2);
    CHECK(server.stop(5s));
    CHECK(errors.count() == 0);
  }
  SUBCASE("a body read to EOF, then a ragged EOF (no close_notify)") {
    for (bool suppress : {true, false}) {
      INFO("suppress_ragged_eofs = " << suppress);
      StreamServer server({"127.0.0.1", 0}, good_server_context(),
                          [&](ssl::Stream& c, const Address&) {
                            boost::beast::flat_buffer buffer;
                            http::request<http::empty_body> req;
                            http::read(c, buffer, req);
                            http::response<http::string_body> res{http::status::ok, 10};
                            res.body() = "until the connection closes";
                            res.keep_alive(false);  // HTTP/1.0, no Content-Length
                            http::write(c, res);
                            c.socket().close();  // drop the connection without close_notify
                          });
      server.start();
      ssl::Stream s =
          ssl::wrap_client(connect_to(server.address().port()), "localhost", client_context());
      s.set_suppress_ragged_eofs(suppress);
      http::request<http::empty_body> req{http::verb::get, "/", 10};
      http::write(s, req);
      boost::beast::flat_buffer buffer;
      http::response<http::string_body> res;
      boost::system::error_code ec;
      http::read(s, buffer, res, ec);
      if (suppress) {
        CHECK_MESSAGE(!ec, ec.message());
        CHECK(res.body() == "until the connection closes");
        CHECK(s.ragged_eof());
      } else {
        CHECK(ec.category() == ssl::boost_error_category());
        CHECK(ec.value() == static_cast<int>(ssl::errc::unexpected_eof));
        CHECK(s.ragged_eof());
      }
      CHECK(server.stop(5s));
    }
  }
  SUBCASE("read_some / write_some directly, both overloads") {
    CountingServer srv(good_server_context());
    ssl::Stream s = ssl::wrap_client(connect_to(srv.port()), "localhost", client_context());
    std::string a = "scattered ", b = "gather ", c = "write";
    std::vector<boost::asio::const_buffer> pieces = {
        boost::asio::buffer(a), boost::asio::const_buffer(), boost::asio::buffer(b),
        boost::asio::buffer(c)};
    CHECK(s.write_some(pieces) == a.size() + b.size() + c.size());  // one record
    std::string got(64, '\0');
    std::size_t n = 0;
    for (int i = 0; i < 100 && n < 22; ++i) {
      n += s.read_some(boost::asio::buffer(got.data() + n, got.size() - n));
    }
    CHECK(got.substr(0, n) == "scattered gather write");
    s.shutdown();  // the echo handler returns, its close_notify ends our stream
    boost::system::error_code ec;
    char buf[16];
    CHECK(s.read_some(boost::asio::buffer(buf), ec) == 0);
    CHECK(ec == boost::asio::error::eof);
    CHECK_FALSE(s.ragged_eof());
    CHECK_THROWS_AS(s.read_some(boost::asio::buffer(buf)), boost::system::system_error);
    CHECK(s.write_some(boost::asio::buffer(a), ec) == 0);  // after shutdown(): EPIPE
    CHECK(ec == boost::asio::error::broken_pipe);
    CHECK(srv.server.stop(5s));
  }
  fds.check();
}

TEST_CASE("4 MB both ways at once through a TLS echo: integrity, then clean close_notify") {
  warm_up();
  FdBaseline fds;
  {
    StreamServer server({"127.0.0.1", 0}, good_server_context(), echo_tls);
    server.start();
    ssl::Stream s =
        ssl::wrap_client(connect_to(server.address().port()), "localhost", client_context());
    s.settimeout(60s);
    const std::string data = payload(4 << 20, 42);
    auto writer = gev::spawn([&] {
      s.sendall(data);
      s.shutdown();  // our close_notify: the echo handler sees EOF and returns
    });
    std::string got;
    got.reserve(data.size());
    char buf[16384];
    for (int i = 0; i < 1000000; ++i) {
      std::size_t n = s.recv(buf, sizeof buf);
      if (n == 0) break;
      got.append(buf, n);
    }
    CHECK(writer->join(30s));
    CHECK(writer->successful());
    CHECK(got.size() == data.size());
    CHECK(got == data);
    CHECK_FALSE(s.ragged_eof());  // the server's close() sent close_notify
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("recv timeout leaves the stream usable; timeouts are the socket's") {
  warm_up();
  FdBaseline fds;
  {
    gev::Event go;
    StreamServer server({"127.0.0.1", 0}, good_server_context(),
                        [&](ssl::Stream& c, const Address&) {
                          go.wait(10s);
                          c.sendall("late");
                          char buf[8];
                          c.recv(buf, sizeof buf);
                        });
    server.start();
    ssl::Stream s =
        ssl::wrap_client(connect_to(server.address().port()), "localhost", client_context());
    s.settimeout(100ms);
    CHECK(s.socket().gettimeout() == std::optional<gev::Duration>(100ms));
    char buf[16];
    const auto t0 = Clock::now();
    auto e = catch_as<gev::net::timeout>([&] { s.recv(buf, sizeof buf); });
    REQUIRE(e.has_value());
    CHECK(Clock::now() - t0 >= 90ms);
    CHECK(contains(e->what(), "TLS recv with localhost"));
    s.settimeout(5s);
    go.set();
    std::size_t n = s.recv(buf, sizeof buf);
    CHECK(std::string(buf, n) == "late");
    SUBCASE("zero timeout: EAGAIN instead of parking") {
      s.settimeout(0s);
      auto r = gev::test::catch_system_error([&] { s.recv(buf, sizeof buf); });
      CHECK(r.thrown);
      CHECK(r.code == EAGAIN);
    }
    s.close();
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("unwrap: close_notify both ways, then plaintext on the same connection") {
  warm_up();
  FdBaseline fds;
  {
    std::string server_tls, server_plain;
    StreamServer server({"127.0.0.1", 0}, good_server_context(),
                        [&](ssl::Stream& c, const Address&) {
                          server_tls = read_to_eof(c);  // up to the client's close_notify
                          Socket plain = c.unwrap();
                          CHECK_FALSE(c.is_open());
                          char buf[64];
                          std::size_t n = plain.recv(buf, sizeof buf);
                          server_plain.assign(buf, n);
                          plain.sendall("PLAIN " + server_plain);
                        });
    server.start();
    ssl::Stream s =
        ssl::wrap_client(connect_to(server.address().port()), "localhost", client_context());
    s.sendall("secret");
    Socket plain = s.unwrap();
    CHECK_FALSE(s.is_open());
    CHECK(plain.is_open());
    plain.sendall("clear");
    CHECK(gev::test::read_to_eof(plain) == "PLAIN clear");
    CHECK(server_tls == "secret");
    CHECK(server_plain == "clear");
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("mutual TLS: a server that requires client certificates") {
  warm_up();
  FdBaseline fds;
  {
    gev::test::CaptureErrors errors;
    ssl::ContextOptions so;
    so.cert_chain_file = pki().server_cert;
    so.key_file = pki().server_key;
    so.ca_file = pki().ca;
    so.verify = ssl::Verify::required;
    std::string subject;
    StreamServer server({"127.0.0.1", 0}, ssl::Context::server(so),
                        [&](ssl::Stream& c, const Address&) {
                          subject = c.peer_subject();
                          c.sendall("hello " + subject);
                        });
    server.start();
    SUBCASE("with a certificate") {
      ssl::ContextOptions co;
      co.ca_file = pki().ca;
      co.cert_chain_file = pki().client_cert;
      co.key_file = pki().client_key;
      ssl::Stream s = ssl::wrap_client(connect_to(server.address().port()), "localhost",
                                       ssl::Context::client(co));
      CHECK(read_to_eof(s) == "hello CN=gev test client");
      CHECK(errors.count() == 0);
    }
    SUBCASE("without: the server refuses (TLS 1.3 reports it on the client's first read)") {
      auto e = catch_as<ssl::Error>([&] {
        ssl::Stream s =
            ssl::wrap_client(connect_to(server.address().port()), "localhost", client_context());
        read_to_eof(s);
      });
      REQUIRE(e.has_value());
      INFO(std::string(e->what()));
      CHECK(e->code() == ssl::errc::protocol_error);
      CHECK(contains(e->what(), "certificate required"));
      CHECK(wait_until([&] { return errors.count() == 1; }));
      CHECK(subject.empty());
    }
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("close() from another greenlet wakes a reader; a kill during the handshake unwinds") {
  warm_up();
  FdBaseline fds;
  {
    CountingServer srv(good_server_context());
    ssl::Stream s = ssl::wrap_client(connect_to(srv.port()), "localhost", client_context());
    s.settimeout(std::nullopt);
    auto reader = gev::spawn([&] {
      char buf[16];
      return gev::test::catch_system_error([&] { s.recv(buf, sizeof buf); });
    });
    gev::sleep(20ms);
    s.close();
    REQUIRE(reader->join(5s));
    CHECK(reader->get().thrown);
    CHECK(reader->get().code == EBADF);
    auto r = gev::test::catch_system_error([&] { s.sendall("closed"); });
    CHECK(r.code == EBADF);
    CHECK(srv.server.stop(5s));
  }
  {
    Socket listener = make_listener();
    int destroyed = 0;
    auto g = gev::spawn([&] {
      gev::test::Witness w(&destroyed);
      ssl::wrap_client(connect_to(listener.local_address().port()), "localhost", client_context());
    });
    gev::sleep(20ms);
    CHECK_FALSE(g->ready());
    g->kill();
    CHECK(g->ready());
    CHECK(destroyed == 1);
  }
  fds.check();
}

TEST_CASE("an interrupted write poisons the write side; reads keep working") {
  warm_up();
  FdBaseline fds;
  {
    gev::Event go, done;
    bool server_sent = false;
    StreamServer server({"127.0.0.1", 0}, good_server_context(),
                        [&](ssl::Stream& c, const Address&) {
                          go.wait(10s);  // reads nothing meanwhile: the client's writes block
                          c.sendall("still readable");
                          server_sent = true;
                          done.wait(10s);  // closing with unread data sends a reset
                        });
    server.start();
    ssl::Stream s =
        ssl::wrap_client(connect_to(server.address().port()), "localhost", client_context());
    s.settimeout(10s);
    const std::string big = payload(64 << 20, 7);  // more than the socket buffers hold
    SUBCASE("net::timeout") {
      s.settimeout(100ms);
      auto e = catch_as<gev::net::timeout>([&] { s.sendall(big); });
      CHECK(e.has_value());
      s.settimeout(10s);
    }
    SUBCASE("gev::Timeout") {
      bool caught = false;
      gev::Timeout t(100ms);
      try {
        s.sendall(big);
      } catch (const gev::Timeout& e) {
        CHECK(e.is(t));
        caught = true;
      }
      CHECK(caught);
    }
    SUBCASE("a kill") {
      s.settimeout(std::nullopt);
      auto writer = gev::spawn([&] { s.sendall(big); });
      gev::sleep(50ms);
      CHECK_FALSE(writer->ready());
      writer->kill();
      CHECK(writer->ready());
      s.settimeout(10s);
    }
    SUBCASE("zero timeout: EAGAIN") {
      s.settimeout(0s);
      auto r = gev::test::catch_system_error([&] { s.sendall(big); });
      CHECK(r.code == EAGAIN);
      s.settimeout(10s);
    }
    auto r = gev::test::catch_system_error([&] { s.send("x", 1); });
    CHECK(r.thrown);
    CHECK(r.code == EPIPE);
    CHECK(contains(r.what, "TLS send with localhost"));
    CHECK(contains(r.what, "write side is unusable after an interrupted write"));
    r = gev::test::catch_system_error([&] { s.sendall("more"); });
    CHECK(r.code == EPIPE);
    CHECK(contains(r.what, "write side is unusable"));
    boost::system::error_code ec;
    CHECK(s.write_some(boost::asio::buffer(std::string("y")), ec) == 0);
    CHECK(ec == boost::asio::error::broken_pipe);
    CHECK_THROWS_AS(s.write_some(boost::asio::buffer(std::string("y"))), std::system_error);
    r = gev::test::catch_system_error([&] { s.shutdown(); });
    CHECK(r.code == EPIPE);
    go.set();
    char buf[32];
    std::size_t n = s.recv(buf, sizeof buf);
    CHECK(std::string(buf, n) == "still readable");
    CHECK(server_sent);
    s.close();
    done.set();
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("write_some(buffers, ec) on a closed stream sets ec, even with several buffers") {
  warm_up();
  FdBaseline fds;
  {
    std::string a = "several ", b = "buffers";
    std::vector<boost::asio::const_buffer> pieces = {boost::asio::buffer(a),
                                                     boost::asio::buffer(b)};
    auto [x, y] = gev::net::socketpair();
    ssl::Stream closed = ssl::Stream::client(std::move(x), "localhost", client_context());
    closed.close();
    ssl::Stream empty;
    for (ssl::Stream* s : {&closed, &empty}) {
      boost::system::error_code ec;
      std::size_t n = 1;
      CHECK_NOTHROW(n = s->write_some(pieces, ec));
      CHECK(n == 0);
      CHECK(ec == boost::asio::error::bad_descriptor);
      ec = {};
      CHECK_NOTHROW(n = s->write_some(boost::asio::buffer(a), ec));
      CHECK(ec == boost::asio::error::bad_descriptor);
      char buf[8];
      ec = {};
      CHECK_NOTHROW(n = s->read_some(boost::asio::buffer(buf), ec));
      CHECK(ec == boost::asio::error::bad_descriptor);
      auto r = gev::test::catch_system_error([&] { s->write_some(pieces); });
      CHECK(r.code == EBADF);
    }
  }
  fds.check();
}

TEST_CASE("a reader and a writer starting before the handshake share it") {
  warm_up();
  FdBaseline fds;
  {
    CountingServer srv(good_server_context());
    ssl::Stream s = ssl::Stream::client(connect_to(srv.port()), "localhost", client_context());
    s.settimeout(10s);
    auto reader = gev::spawn([&] {
      char buf[16];
      std::size_t n = s.recv(buf, sizeof buf);  // runs the handshake
      return std::string(buf, n);
    });
    auto writer = gev::spawn([&] { s.sendall("both ways"); });  // waits for it
    REQUIRE(reader->join(10s));
    REQUIRE(writer->join(10s));
    CHECK(writer->successful());
    REQUIRE(reader->successful());
    CHECK(reader->get() == "both ways");
    CHECK(s.handshake_done());
    s.close();
    CHECK(srv.server.stop(5s));
  }
  {
    Socket listener = make_listener();  // accepts nothing: the handshake never completes
    ssl::Stream s = ssl::Stream::client(connect_to(listener.local_address().port()), "localhost",
                                        client_context());
    s.settimeout(std::nullopt);
    auto first =
        gev::spawn([&] { return gev::test::catch_system_error([&] { s.do_handshake(); }); });
    auto second =
        gev::spawn([&] { return gev::test::catch_system_error([&] { s.sendall("never"); }); });
    gev::sleep(20ms);
    CHECK_FALSE(first->ready());
    CHECK_FALSE(second->ready());  // waiting for the first's handshake, not failing
    s.close();
    REQUIRE(first->join(5s));
    REQUIRE(second->join(5s));
    CHECK(first->get().code == EBADF);
    CHECK(second->get().code == EBADF);
  }
  fds.check();
}

TEST_CASE("destroying or move-assigning a stream under a parked greenlet terminates") {
  warm_up();
  Socket listener = make_listener();
  const std::uint16_t port = listener.local_address().port();
  for (bool move_assign : {false, true}) {
    auto r = gev::test::run_in_child([&] {
      auto s = std::make_unique<ssl::Stream>(
          ssl::Stream::client(connect_to(port), "localhost", client_context()));
      s->settimeout(std::nullopt);
      auto g = gev::spawn([&] {
        try {
          s->do_handshake();
        } catch (const std::exception&) {
        }
      });
      gev::sleep(20ms);  // g is parked in the handshake
      if (move_assign) {
        *s = ssl::Stream();
      } else {
        s.reset();
      }
      return 0;
    });
    INFO(r.output);
    CHECK(r.signaled());
    CHECK(r.signal() == SIGABRT);
    CHECK(contains(r.output,
                   "gev::net::ssl::Stream destroyed (or moved) while a greenlet is "
                   "parked on it; close() it and let that greenlet finish first"));
  }
  // close() from another greenlet, then letting it finish, is fine.
  auto r = gev::test::run_in_child([&] {
    auto s = std::make_unique<ssl::Stream>(
        ssl::Stream::client(connect_to(port), "localhost", client_context()));
    s->settimeout(std::nullopt);
    auto g = gev::spawn([&] { return gev::test::catch_system_error([&] { s->do_handshake(); }); });
    gev::sleep(20ms);
    s->close();
    if (!g->join(5s) || g->get().code != EBADF) return 1;
    s.reset();
    return 0;
  });
  INFO(r.output);
  CHECK(r.exited());
  CHECK(r.exit_code() == 0);
}

TEST_CASE("Context: defaults, shared handles, configuration errors") {
  warm_up();
  const auto& p = pki();
  SUBCASE("defaults") {
    const ssl::Context& d = ssl::Context::default_client();
    CHECK(&d == &ssl::Context::default_client());
    CHECK(d.role() == ssl::Role::client);
    CHECK(d.verify() == ssl::Verify::required);
    CHECK(d.check_hostname());
    ssl::Context copy = d;
    CHECK(copy.native_handle() == d.native_handle());
    ssl::Context server = ssl::Context::server(p.server_cert, p.server_key);
    CHECK(server.role() == ssl::Role::server);
    CHECK(server.verify() == ssl::Verify::none);
  }
  SUBCASE("an unreadable certificate names the file") {
    auto e =
        catch_as<ssl::Error>([&] { ssl::Context::server(p.dir + "/missing.pem", p.server_key); });
    REQUIRE(e.has_value());
    CHECK(e->code() == ssl::errc::invalid_configuration);
    CHECK(contains(e->what(), "missing.pem"));
  }
  SUBCASE("a key that does not match the certificate") {
    auto e = catch_as<ssl::Error>([&] { ssl::Context::server(p.server_cert, p.self_signed_key); });
    REQUIRE(e.has_value());
    INFO(std::string(e->what()));
    CHECK(contains(e->what(), "key values mismatch"));
    CHECK(contains(e->what(), "self.key"));
  }
  SUBCASE("an unreadable CA file") {
    ssl::ContextOptions o;
    o.ca_file = p.dir + "/no-ca.pem";
    auto e = catch_as<ssl::Error>([&] { ssl::Context::client(o); });
    REQUIRE(e.has_value());
    CHECK(contains(e->what(), "no-ca.pem"));
  }
  SUBCASE("inconsistent options and roles") {
    CHECK_THROWS_AS(ssl::Context::server(ssl::ContextOptions{}), std::invalid_argument);
    ssl::ContextOptions o;
    o.alpn_protocols = {""};
    CHECK_THROWS_AS(ssl::Context::client(o), std::invalid_argument);
    o.alpn_protocols = {std::string(256, 'a')};
    CHECK_THROWS_AS(ssl::Context::client(o), std::invalid_argument);
    FdBaseline fds;
    {
      auto [a, b] = gev::net::socketpair();
      const ssl::Context server = ssl::Context::server(p.server_cert, p.server_key);
      CHECK_THROWS_AS(ssl::Stream::client(std::move(a), "localhost", server),
                      std::invalid_argument);
      CHECK_THROWS_AS(ssl::Stream::server(std::move(b), ssl::Context::default_client()),
                      std::invalid_argument);
      auto [c, d] = gev::net::socketpair();
      CHECK_THROWS_AS(ssl::Stream::client(std::move(c), "", client_context()),
                      std::invalid_argument);
      auto [e, f] = gev::net::socketpair();
      ssl::Stream v6 = ssl::Stream::client(std::move(e), "[::1]", client_context());
      CHECK(v6.server_hostname() == "::1");  // an IP literal: brackets dropped, no SNI
      CHECK_FALSE(v6.handshake_done());
    }
    fds.check();
  }
}
