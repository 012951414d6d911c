// gev::http::Server against real peers: curl (7.88) and Python's http.client run as child
// processes while the server runs in this test's hub, so every wait for a child is cooperative
// (ChildProcess::wait_exit with gev::sleep between polls, bounded in time). curl: keep-alive reuse
// across two URLs, HEAD (then a GET on the same connection), a chunked 300 KB upload, Expect:
// 100-continue (read and unread bodies), a streamed response of 1000 pieces (chunked, and
// close-delimited on HTTP/1.0), 413 over max_body_bytes. http.client: sequential requests on one
// kept-alive connection, a chunked streamed response, a form body, decoded query parameters, a
// chunked upload; 16 pipelined requests whose answers http.client's parser reads in order.
// HTTPS with curl and http.client, verified (200) and unverified (curl exit 60, Python's
// SSLCertVerificationError). Graceful stop: an idle keep-alive connection closed at once, the
// request in flight finished with "Connection: close", new connections refused; a handler still
// running at the deadline killed (stop() false, RAII unwound). The access log's combined format.
// All on loopback; curl runs with -q (no .curlrc) and --noproxy '*'. The descriptor count is
// back at its baseline after every case.
#include <doctest/doctest.h>
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gev/http/app.hpp>
#include <gev/http/server.hpp>
#include <gev/http/static_files.hpp>
#include <gev/net/ssl_context.hpp>

#include "net/net_support.hpp"
#include "net/ssl_support.hpp"

using namespace std::chrono_literals;
using gev::http::App;
using gev::http::BodyWriter;
using gev::http::Request;
using gev::http::Response;
using gev::http::Server;
using gev::http::ServerOptions;
using gev::net::Socket;
using gev::test::ChildProcess;
using gev::test::FdBaseline;

namespace {

using Clock = std::chrono::steady_clock;

ServerOptions quiet(ServerOptions o = {}) {
  o.access_log = nullptr;
  return o;
}

void pause_in_hub() {
  gev::sleep(5ms);
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::size_t count(std::string_view hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

std::string base_url(const Server& s) {
  return "http://127.0.0.1:" + std::to_string(s.address().port());
}

// A scratch directory under /tmp, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gev-http-peers-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (path.rfind("/tmp/gev-http-peers-", 0) != 0) return;
    nftw(
        path.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream out(file(name), std::ios::binary);
    out << content;
    return file(name);
  }
  std::string read(const std::string& name) const {
    std::ifstream in(file(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

// Deterministic bytes of every value (NUL, CR, LF included).
std::string test_bytes(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

std::string fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

// The handler's answer for an uploaded body: its length and checksum.
std::string digest(std::string_view body) {
  return "len=" + std::to_string(body.size()) + " fnv=" + fnv1a(body);
}

// curl with no configuration file, no proxy, verbose (the dialogue on stderr), bounded, and a
// summary line per transfer.
const char* const kCurlSummary =
    "\\nCURL code=%{http_code} connects=%{num_connects} down=%{size_download} "
    "up=%{size_upload}\\n";

std::vector<std::string> curl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-q", "--noproxy", "*",         "-sS", "-v",
                                   "--max-time",    "20", "-w",        kCurlSummary};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> python(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", "-c", script};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

struct Ran {
  int code = -2;  // exit code; -1: killed by a signal or still running at the limit
  std::string output;
  Clock::duration took{};
};

// Runs a peer to its end, parked in gev::sleep between polls so the server keeps serving.
Ran run_peer(const std::vector<std::string>& argv, std::chrono::milliseconds limit = 30s) {
  Ran r;
  const auto start = Clock::now();
  ChildProcess child(argv);
  if (!child.started()) {
    r.output = "cannot start " + argv[0];
    return r;
  }
  child.close_input();
  r.code = child.wait_exit(limit, pause_in_hub);
  r.output = child.output();
  r.took = Clock::now() - start;
  return r;
}

// One response from a kept-alive connection: the header section, then Content-Length bytes.
std::string read_response(Socket& c) {
  std::string got;
  char buf[4096];
  for (int i = 0; i < 1000; ++i) {
    const auto end = got.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t length = 0;
      const auto cl = got.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) length = std::stoul(got.substr(cl + 16));
      if (got.size() >= end + 4 + length) break;
    }
    const std::size_t n = c.recv(buf, sizeof buf);
    if (n == 0) break;
    got.append(buf, n);
  }
  return got;
}

// The piece a streamed response writes i-th (sizes vary from 9 to 60 bytes).
std::string piece(int i) {
  return "piece " + std::to_string(i) + " " + std::string(i % 50, 'x') + "\n";
}

std::string all_pieces(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += piece(i);
  return s;
}

const gev::test::TestPki& pki() {
  const auto& p = gev::test::test_pki();
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  return p;
}

}  // namespace

TEST_CASE("curl: two URLs over one kept-alive connection; HEAD has Content-Length and no body") {
  FdBaseline fds;
  {
    std::set<std::uint16_t> ports;
    App app;
    app.route("/a", [](Request&) { return Response::text(200, "alpha\n"); });
    app.route("/b", [](Request&) { return Response::text(200, "bravo\n"); });
    Server server(
        {"127.0.0.1", 0},
        [&](Request& r) {
          ports.insert(r.remote_address().port());
          return app(r);
        },
        quiet());
    server.start();
    const std::string url = base_url(server);

    Ran r = run_peer(curl({url + "/a", url + "/b"}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "Re-using existing connection"));
    CHECK(contains(r.output, "CURL code=200 connects=1 down=6"));
    CHECK(contains(r.output, "CURL code=200 connects=0 down=6"));
    CHECK(contains(r.output, "alpha\n"));
    CHECK(contains(r.output, "bravo\n"));
    CHECK(server.requests_served() == 2);
    CHECK(ports.size() == 1);

    // HEAD: the GET's Content-Length and no body -- then a GET on the same connection, which
    // would read a stray HEAD body as the start of its response.
    ports.clear();
    std::vector<std::string> argv = curl({"-I", url + "/a", "--next"});
    const std::vector<std::string> get = curl({url + "/b"});
    argv.insert(argv.end(), get.begin() + 2, get.end());  // the options again, not "curl -q"
    r = run_peer(argv);
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "> HEAD /a HTTP/1.1"));
    CHECK(contains(r.output, "< Content-Length: 6"));
    CHECK(contains(r.output, "CURL code=200 connects=1 down=0"));
    CHECK_FALSE(contains(r.output, "alpha"));
    CHECK(contains(r.output, "Re-using existing connection"));
    CHECK(contains(r.output, "CURL code=200 connects=0 down=6"));
    CHECK(contains(r.output, "bravo\n"));
    CHECK(server.requests_served() == 4);
    CHECK(ports.size() == 1);
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("curl: a chunked 300 KB upload and Expect: 100-continue with a 200 KB body") {
  FdBaseline fds;
  {
    TempDir tmp;
    REQUIRE(!tmp.path.empty());
    const std::string big = test_bytes(300 * 1024, 1), medium = test_bytes(200 * 1024, 2);
    const std::string big_file = tmp.write("big.bin", big);
    const std::string medium_file = tmp.write("medium.bin", medium);
    std::string seen_te, seen_expect;
    App app;
    app.route("/upload",
              [&](Request& r) {
                seen_te = std::string(r.header("Transfer-Encoding"));
                seen_expect = std::string(r.header("Expect"));
                return Response::text(200, digest(r.body()));
              },
              {"POST"});
    app.route("/ignore", [](Request&) { return Response::text(403, "not reading that\n"); },
              {"POST"});
    Server server({"127.0.0.1", 0}, app, quiet());
    server.start();
    const std::string url = base_url(server);

    Ran r = run_peer(curl(
        {"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + big_file, url + "/upload"}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "> Transfer-Encoding: chunked"));
    CHECK(contains(r.output, digest(big)));
    CHECK(contains(r.output, "CURL code=200"));
    CHECK(seen_te == "chunked");

    // curl waits up to --expect100-timeout for "100 Continue": a prompt answer is the server's.
    r = run_peer(curl({"-H", "Expect: 100-continue", "--expect100-timeout", "10", "--data-binary",
                       "@" + medium_file, url + "/upload"}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(seen_expect == "100-continue");
    CHECK(seen_te.empty());
    CHECK(contains(r.output, "> Content-Length: 204800"));
    CHECK(contains(r.output, "< HTTP/1.1 100 Continue"));
    CHECK(contains(r.output, "< HTTP/1.1 200 OK"));
    CHECK(contains(r.output, digest(medium)));
    CHECK(contains(r.output, "up=204800"));
    CHECK(r.took < 5s);

    // A handler that does not read: no "100 Continue", the final answer at once, the body never
    // sent, and the connection closed (its unread body would otherwise come next).
    r = run_peer(curl({"-H", "Expect: 100-continue", "--expect100-timeout", "10", "--data-binary",
                       "@" + medium_file, url + "/ignore"}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK_FALSE(contains(r.output, "100 Continue"));
    CHECK(contains(r.output, "< HTTP/1.1 403 Forbidden"));
    CHECK(contains(r.output, "< Connection: close"));
    CHECK(contains(r.output, "not reading that"));
    CHECK(contains(r.output, "CURL code=403"));
    CHECK(r.took < 5s);
    CHECK(server.requests_served() == 3);
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("curl: a streamed response of 1000 pieces arrives intact (chunked; HTTP/1.0: to EOF)") {
  FdBaseline fds;
  {
    TempDir tmp;
    REQUIRE(!tmp.path.empty());
    App app;
    app.route("/stream", [](Request&) {
      return Response::stream(200, [](BodyWriter& w) {
        for (int i = 0; i < 1000; ++i) {
          w.write(piece(i));
          if (i % 100 == 99) gev::sleep(1ms);  // the producer may park between pieces
        }
      });
    });
    Server server({"127.0.0.1", 0}, app, quiet());
    server.start();
    const std::string expected = all_pieces(1000);

    Ran r = run_peer(curl({"-o", tmp.file("out11"), base_url(server) + "/stream"}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "< Transfer-Encoding: chunked"));
    CHECK_FALSE(contains(r.output, "< Content-Length"));
    CHECK(contains(r.output, "CURL code=200 connects=1 down=" + std::to_string(expected.size())));
    CHECK(tmp.read("out11") == expected);

    r = run_peer(curl({"-0", "-o", tmp.file("out10"), base_url(server) + "/stream"}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "< HTTP/1.0 200 OK"));
    CHECK_FALSE(contains(r.output, "< Transfer-Encoding"));
    CHECK(contains(r.output, "< Connection: close"));
    CHECK(tmp.read("out10") == expected);
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("curl: 413 for a body over max_body_bytes (Content-Length or chunked)") {
  FdBaseline fds;
  {
    TempDir tmp;
    REQUIRE(!tmp.path.empty());
    const std::string at_limit = tmp.write("1000.bin", test_bytes(1000, 3));
    const std::string over = tmp.write("5000.bin", test_bytes(5000, 4));
    const std::string far_over = tmp.write("300k.bin", test_bytes(300 * 1024, 5));
    int handled = 0;
    App app;
    app.route("/upload",
              [&](Request& r) {
                ++handled;
                return Response::text(200, digest(r.body()));
              },
              {"POST"});
    ServerOptions o = quiet();
    o.max_body_bytes = 1000;
    Server server({"127.0.0.1", 0}, app, o);
    server.start();
    const std::string url = base_url(server) + "/upload";

    Ran r = run_peer(curl({"--data-binary", "@" + at_limit, url}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "CURL code=200"));
    CHECK(contains(r.output, "len=1000 "));

    // Announced by Content-Length: refused before the handler runs.
    r = run_peer(curl({"--data-binary", "@" + over, url}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "< HTTP/1.1 413 Payload Too Large"));
    CHECK(contains(r.output, "< Connection: close"));
    CHECK(contains(r.output, "CURL code=413"));
    CHECK(handled == 1);

    // Chunked: found out while the handler reads.
    r = run_peer(curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + over, url}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "< HTTP/1.1 413 Payload Too Large"));
    CHECK(contains(r.output, "CURL code=413"));
    CHECK(handled == 2);

    // A large announced body, with and without "Expect: 100-continue" (curl's -H 'Expect:'
    // suppresses it): the client must still read the 413, not a connection reset.
    for (const bool expect : {true, false}) {
      CAPTURE(expect);
      r = run_peer(curl({"-H", expect ? "Expect: 100-continue" : "Expect:", "--data-binary",
                         "@" + far_over, url}));
      INFO(r.output);
      CHECK(r.code == 0);
      CHECK(contains(r.output, "CURL code=413"));
      CHECK_FALSE(contains(r.output, "100 Continue"));
    }
    CHECK(handled == 2);
    CHECK(server.stop(5s));
  }
  fds.check();
}

// A client that sends its whole body before reading -- http.client does -- still gets the 413:
// the server closes with a lingering close (like nginx) instead of resetting the connection.
TEST_CASE("Python: 413 for a large body sent whole before the answer is read") {
  FdBaseline fds;
  {
    App app;
    app.route("/upload", [](Request& r) { return Response::text(200, digest(r.body())); },
              {"POST"});
    ServerOptions o = quiet();
    o.max_body_bytes = 1000;
    Server server({"127.0.0.1", 0}, app, o);
    server.start();
    const std::string script = R"PY(
import http.client, sys
port = int(sys.argv[1])
for size in (100000, 1000000, 5000000):
    for chunked in (False, True):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            body = iter([b"a" * size]) if chunked else b"a" * size
            c.request("POST", "/upload", body=body, encode_chunked=chunked)
            r = c.getresponse()
            print(f"size={size} chunked={chunked} status={r.status}")
        except Exception as e:
            print(f"size={size} chunked={chunked} error={e!r}")
        c.close()
)PY";
    Ran r = run_peer(python(script, {std::to_string(server.address().port())}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(count(r.output, "status=413") == 6);
    CHECK_FALSE(contains(r.output, "error="));
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("Python http.client: keep-alive, a chunked streamed response, a form, query parameters") {
  FdBaseline fds;
  {
    std::set<std::uint16_t> ports;
    std::vector<std::pair<std::string, std::string>> query, form;
    std::optional<std::string> name, missing;
    std::string form_type;
    App app;
    app.route("/hello/<n>",
              [](Request& r) { return Response::text(200, "hello " + r.param("n") + "\n"); });
    app.route("/query", [&](Request& r) {
      query = r.query_params();
      name = r.query("name");
      missing = r.query("missing");
      return Response::text(200, "params=" + std::to_string(query.size()) + "\n");
    });
    app.route("/form",
              [&](Request& r) {
                form_type = std::string(r.header("Content-Type"));
                form = r.form();
                return Response::text(200, "fields=" + std::to_string(form.size()) + "\n");
              },
              {"POST"});
    app.route("/stream", [](Request&) {
      return Response::stream(200, [](BodyWriter& w) {
        for (int i = 0; i < 1000; ++i) w.write(piece(i));
      });
    });
    std::string upload_te;
    app.route("/upload",
              [&](Request& r) {
                upload_te = std::string(r.header("Transfer-Encoding"));
                return Response::text(200, digest(r.body()));
              },
              {"POST"});
    Server server(
        {"127.0.0.1", 0},
        [&](Request& r) {
          ports.insert(r.remote_address().port());
          return app(r);
        },
        quiet());
    server.start();

    const std::string script = R"PY(
import http.client, sys, urllib.parse
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
local = set()
def go(label, method, url, body=None, headers={}, show=True):
    c.request(method, url, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    local.add(c.sock.getsockname()[1] if c.sock else 0)
    print(f"{label} status={r.status} chunked={r.chunked} "
          f"cl={r.getheader('Content-Length')} conn={r.getheader('Connection')} "
          f"server={r.getheader('Server')} date={r.getheader('Date') is not None} "
          f"body={data if show else b'...'!r}")
    return data
for i in range(3):
    go(f"hello{i}", "GET", f"/hello/{i}")
q = urllib.parse.urlencode([("name", "J\u00fcrgen Z"), ("sym", "&=+?/%"), ("x", "1"),
                            ("x", "2"), ("empty", "")])
go("query", "GET", "/query?" + q + "&flag")
f = urllib.parse.urlencode({"name": "Zo\u00eb & co", "note": "a+b=c 100%", "empty": ""})
go("form", "POST", "/form", f, {"Content-Type": "application/x-www-form-urlencoded"})
data = go("stream", "GET", "/stream", show=False)
expected = "".join(f"piece {i} {'x' * (i % 50)}\n" for i in range(1000)).encode()
print(f"stream intact={data == expected} len={len(data)}")
payload = bytes((i * 7 + i // 251) % 256 for i in range(300 * 1024))
def fnv(b):
    h = 14695981039346656037
    for x in b:
        h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"
pieces = (payload[i:i + 10000] for i in range(0, len(payload), 10000))
got = go("upload", "POST", "/upload", pieces, {}, show=False)
print(f"upload digest ok={got.decode() == f'len={len(payload)} fnv={fnv(payload)}'}")
go("after", "GET", "/hello/after")
print(f"local ports={len(local)}")
c.close()
)PY";
    Ran r = run_peer(python(script, {std::to_string(server.address().port())}));
    INFO(r.output);
    CHECK(r.code == 0);
    for (int i = 0; i < 3; ++i) {
      CHECK(contains(r.output, "hello" + std::to_string(i) +
                                   " status=200 chunked=False cl=8 conn=None server=gev "
                                   "date=True body=b'hello " +
                                   std::to_string(i) + "\\n'"));
    }
    CHECK(contains(r.output, "query status=200 chunked=False cl=9 conn=None"));
    CHECK(contains(r.output, "form status=200 chunked=False cl=9 conn=None"));
    CHECK(contains(r.output, "stream status=200 chunked=True cl=None conn=None"));
    CHECK(contains(r.output, "stream intact=True len=" + std::to_string(all_pieces(1000).size())));
    CHECK(contains(r.output, "upload status=200 chunked=False"));
    CHECK(contains(r.output, "upload digest ok=True"));
    CHECK(upload_te == "chunked");
    CHECK(contains(r.output, "after status=200 chunked=False cl=12 conn=None"));
    CHECK(contains(r.output, "local ports=1"));
    CHECK(ports.size() == 1);
    CHECK(server.requests_served() == 8);

    const std::vector<std::pair<std::string, std::string>> want_query = {
        {"name", "J\xc3\xbcrgen Z"},
        {"sym", "&=+?/%"},
        {"x", "1"},
        {"x", "2"},
        {"empty", ""},
        {"flag", ""}};
    CHECK(query == want_query);
    CHECK(name == std::optional<std::string>("J\xc3\xbcrgen Z"));
    CHECK_FALSE(missing.has_value());
    const std::vector<std::pair<std::string, std::string>> want_form = {
        {"name", "Zo\xc3\xab & co"}, {"note", "a+b=c 100%"}, {"empty", ""}};
    CHECK(form == want_form);
    CHECK(form_type == "application/x-www-form-urlencoded");
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("Python: 16 pipelined requests, answered in order, read by http.client's parser") {
  FdBaseline fds;
  {
    std::set<std::uint16_t> ports;
    App app;
    app.route("/hello/<n>",
              [](Request& r) { return Response::text(200, "hello " + r.param("n") + "\n"); });
    app.route("/echo", [](Request& r) { return Response::text(200, "echo " + r.body() + "\n"); },
              {"POST"});
    app.route("/stream", [](Request&) {
      return Response::stream(200, [](BodyWriter& w) {
        for (int i = 0; i < 1000; ++i) w.write(piece(i));
      });
    });
    Server server(
        {"127.0.0.1", 0},
        [&](Request& r) {
          ports.insert(r.remote_address().port());
          return app(r);
        },
        quiet());
    server.start();

    // The whole burst is sent before any answer is read; each answer is parsed by http.client
    // from one shared buffered reader, so a byte too many or too few breaks the next one.
    const std::string script = R"PY(
import http.client, socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=20)
reqs = []
for i in range(16):
    kind = i % 4
    if kind == 0: reqs.append(("GET", f"/hello/{i}", b""))
    elif kind == 1: reqs.append(("POST", "/echo", b"body %d" % i))
    elif kind == 2: reqs.append(("GET", "/stream", b""))
    else: reqs.append(("HEAD", f"/hello/{i}", b""))
reqs.append(("GET", "/hello/last", b""))
burst = b""
for n, (m, u, b) in enumerate(reqs):
    head = f"{m} {u} HTTP/1.1\r\nHost: x\r\n"
    if b: head += f"Content-Length: {len(b)}\r\n"
    if n == len(reqs) - 1: head += "Connection: close\r\n"
    burst += head.encode() + b"\r\n" + b
s.sendall(burst)

class Shared:
    def __init__(self, f): self.f = f
    def __getattr__(self, name): return getattr(self.f, name)
    def close(self): pass
reader = Shared(s.makefile("rb"))
class Sock:
    def makefile(self, *args, **kwargs): return reader
expected = "".join(f"piece {i} {'x' * (i % 50)}\n" for i in range(1000)).encode()
for m, u, b in reqs:
    r = http.client.HTTPResponse(Sock(), method=m)
    r.begin()
    data = r.read()
    shown = "stream-intact" if data == expected else data
    print(f"{m} {u} -> {r.status} cl={r.getheader('Content-Length')} chunked={r.chunked} "
          f"conn={r.getheader('Connection')} {shown!r}")
print(f"after the last: {reader.read()!r}")
s.close()
)PY";
    Ran r = run_peer(python(script, {std::to_string(server.address().port())}));
    INFO(r.output);
    CHECK(r.code == 0);
    for (int i = 0; i < 16; ++i) {
      const std::string n = std::to_string(i);
      CAPTURE(n);
      switch (i % 4) {
        case 0:
          CHECK(contains(r.output, "GET /hello/" + n +
                                       " -> 200 cl=" + std::to_string(7 + n.size()) +
                                       " chunked=False conn=None " + "b'hello " + n + "\\n'"));
          break;
        case 1:
          CHECK(contains(r.output, "POST /echo -> 200 cl=" + std::to_string(11 + n.size()) +
                                       " chunked=False conn=None b'echo body " + n + "\\n'"));
          break;
        case 2:
          break;
        default:
          CHECK(contains(r.output, "HEAD /hello/" + n +
                                       " -> 200 cl=" + std::to_string(7 + n.size()) +
                                       " chunked=False conn=None b''"));
      }
    }
    CHECK(count(r.output, "GET /stream -> 200 cl=None chunked=True conn=None 'stream-intact'") ==
          4);
    CHECK(contains(r.output,
                   "GET /hello/last -> 200 cl=11 chunked=False conn=close b'hello last\\n'"));
    CHECK(contains(r.output, "after the last: b''"));
    CHECK(ports.size() == 1);
    CHECK(server.requests_served() == 17);
    CHECK(server.stop(5s));
  }
  fds.check();
}

TEST_CASE("HTTPS: curl and http.client verify the server (200); without the CA they refuse it") {
  const auto& p = pki();  // built (blocking) before any server runs
  const auto tls = gev::net::ssl::Context::server(p.server_cert, p.server_key);
  FdBaseline fds;
  {
    gev::test::CaptureErrors errors;  // the refused handshakes are reported by the server
    std::set<std::uint16_t> ports;
    Server server(
        {"127.0.0.1", 0}, tls,
        [&](Request& r) {
          ports.insert(r.remote_address().port());
          return Response::text(200, "secure " + std::string(r.path()) + "\n");
        },
        quiet());
    server.start();
    const std::string port = std::to_string(server.address().port());
    const std::string url = "https://localhost:" + port;
    const std::string resolve = "localhost:" + port + ":127.0.0.1";

    Ran r = run_peer(curl({"--cacert", p.ca, "--resolve", resolve, url + "/", url + "/again"}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "SSL certificate verify ok"));
    CHECK(contains(r.output, "CURL code=200 connects=1"));
    CHECK(contains(r.output, "CURL code=200 connects=0"));
    CHECK(contains(r.output, "secure /\n"));
    CHECK(contains(r.output, "secure /again\n"));
    CHECK(ports.size() == 1);

    r = run_peer(curl({"--resolve", resolve, url + "/"}));
    INFO(r.output);
    CHECK(r.code == 60);  // CURLE_PEER_FAILED_VERIFICATION
    CHECK_FALSE(contains(r.output, "secure /"));

    const std::string script = R"PY(
import http.client, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPSConnection("localhost", port, timeout=20,
                                context=ssl.create_default_context(cafile=ca))
for path in ("/py", "/py2"):
    c.request("GET", path)
    r = c.getresponse()
    print(f"verified status={r.status} body={r.read()!r} version={c.sock.version()}")
c.close()
try:
    c = http.client.HTTPSConnection("localhost", port, timeout=20,
                                    context=ssl.create_default_context())
    c.request("GET", "/unverified")
    print(f"unverified status={c.getresponse().status}")
except ssl.SSLCertVerificationError as e:
    print(f"refused: {e.verify_message}")
)PY";
    r = run_peer(python(script, {port, p.ca}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "verified status=200 body=b'secure /py\\n' version=TLSv1.3"));
    CHECK(contains(r.output, "verified status=200 body=b'secure /py2\\n' version=TLSv1.3"));
    CHECK(contains(r.output, "refused: unable to get local issuer certificate"));
    CHECK_FALSE(contains(r.output, "unverified status"));
    CHECK(server.requests_served() == 4);
    CHECK(server.stop(5s));
    for (const auto& e : errors.reports()) {
      INFO(e.context << ": " << e.description);
      CHECK(contains(e.context, "TLS handshake"));
    }
  }
  fds.check();
}

TEST_CASE(
    "graceful stop: idle keep-alive closed at once, in-flight request finished, no new ones") {
  FdBaseline fds;
  {
    int started = 0, finished = 0;
    App app;
    app.route("/", [](Request&) { return Response::text(200, "quick\n"); });
    app.route("/slow", [&](Request&) {
      ++started;
      gev::sleep(500ms);
      ++finished;
      return Response::text(200, "slow done\n");
    });
    Server server({"127.0.0.1", 0}, app, quiet());
    server.start();
    const std::uint16_t port = server.address().port();

    // An idle keep-alive connection: one request answered, the connection left open.
    Socket idle = gev::net::create_connection("127.0.0.1", port, 5s);
    idle.settimeout(5s);
    idle.sendall("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string first = read_response(idle);
    CHECK(starts_with(first, "HTTP/1.1 200 OK\r\n"));
    CHECK_FALSE(contains(first, "Connection: close"));

    // The request in flight: curl, its handler asleep for 500 ms.
    ChildProcess client(curl({base_url(server) + "/slow"}));
    REQUIRE(client.started());
    client.close_input();
    REQUIRE(gev::test::wait_until([&] { return started == 1; }, 10s));
    CHECK(server.connections() == 2);

    const auto t0 = Clock::now();
    std::optional<Clock::duration> stop_took;
    auto stopper = gev::spawn([&] {
      const bool clean = server.stop(5s);
      stop_took = Clock::now() - t0;
      return clean;
    });

    // The idle connection ends at once, well before the request in flight does.
    char buf[256];
    const auto idle_read =
        gev::test::catch_system_error([&] { CHECK(idle.recv(buf, sizeof buf) == 0); });
    const auto idle_closed = Clock::now() - t0;
    CHECK_FALSE(idle_read.thrown);
    CHECK(idle_closed < 250ms);
    CHECK(finished == 0);
    CHECK(!stop_took.has_value());

    // New connections are refused while the stop waits for the request in flight.
    const auto refused =
        gev::test::catch_system_error([&] { gev::net::create_connection("127.0.0.1", port, 2s); });
    CHECK(refused.thrown);
    CHECK(refused.code == ECONNREFUSED);

    // The request in flight completes, its response saying the connection closes.
    const int code = client.wait_exit(20s, pause_in_hub);
    INFO(client.output());
    CHECK(code == 0);
    CHECK(contains(client.output(), "< HTTP/1.1 200 OK"));
    CHECK(contains(client.output(), "< Connection: close"));
    CHECK(contains(client.output(), "slow done\n"));
    CHECK(finished == 1);
    CHECK(stopper->get());
    REQUIRE(stop_took.has_value());
    CHECK(*stop_took >= 350ms);
    CHECK(*stop_took < 5s);
    CHECK(server.connections() == 0);

    // And after the stop too.
    const auto after =
        gev::test::catch_system_error([&] { gev::net::create_connection("127.0.0.1", port, 2s); });
    CHECK(after.thrown);
    CHECK(after.code == ECONNREFUSED);
    CHECK(server.requests_served() == 2);
  }
  fds.check();
}

TEST_CASE("stop at its deadline kills a handler still running: false, unwound, fds back") {
  FdBaseline fds;
  {
    struct Flag {
      bool* set;
      ~Flag() { *set = true; }
    };
    int started = 0;
    bool unwound = false, finished = false;
    App app;
    app.route("/sleepy", [&](Request&) {
      ++started;
      Flag guard{&unwound};
      gev::sleep(10s);
      finished = true;
      return Response::text(200, "too late\n");
    });
    Server server({"127.0.0.1", 0}, app, quiet());
    server.start();
    ChildProcess client(curl({base_url(server) + "/sleepy"}));
    REQUIRE(client.started());
    client.close_input();
    REQUIRE(gev::test::wait_until([&] { return started == 1; }, 10s));

    const auto t0 = Clock::now();
    const bool clean = server.stop(100ms);
    const auto took = Clock::now() - t0;
    CHECK_FALSE(clean);
    CHECK(took >= 90ms);
    CHECK(took < 1s);
    CHECK(unwound);
    CHECK_FALSE(finished);
    CHECK(server.connections() == 0);

    // curl sees the connection end without a response.
    const int code = client.wait_exit(20s, pause_in_hub);
    INFO(client.output());
    CHECK(code == 52);  // CURLE_GOT_NOTHING
    CHECK_FALSE(contains(client.output(), "too late"));
  }
  fds.check();
}

TEST_CASE("access log: one request, one line in Apache combined format") {
  FdBaseline fds;
  {
    std::FILE* log = std::tmpfile();
    REQUIRE(log != nullptr);
    ServerOptions o;
    o.access_log = log;
    App app;
    app.route("/x",
              [](Request& r) { return Response::text(200, "y=" + r.query("y").value_or("?")); });
    Server server({"127.0.0.1", 0}, app, o);
    server.start();
    const Ran r = run_peer(curl({base_url(server) + "/x?y=1"}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "CURL code=200"));
    CHECK(server.stop(5s));

    std::fflush(log);
    std::rewind(log);
    std::string text;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, log)) > 0) text.append(buf, n);
    std::fclose(log);
    INFO(text);
    CHECK(count(text, "\n") == 1);
    const std::regex combined(
        R"(127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] )"
        R"("GET /x\?y=1 HTTP/1\.1" 200 3 "-" "curl/[0-9.]+"\n)");
    CHECK(std::regex_match(text, combined));
  }
  fds.check();
}

TEST_CASE("curl and Python: byte ranges of a static file (206, 416) and a conditional GET (304)") {
  FdBaseline fds;
  {
    TempDir dir;
    const std::string data = test_bytes(100000, 11);
    dir.write("data.bin", data);
    gev::http::App app;
    const std::string root = dir.path;
    app.route("/files/<path:f>", [root](Request& req) {
      return gev::http::send_from_directory(root, req.param("f"), req);
    });
    Server server({"127.0.0.1", 0}, app, quiet());
    server.start();
    const std::string url = base_url(server) + "/files/data.bin";

    const std::string out = dir.file("part.bin");
    Ran r = run_peer(curl({"-r", "1000-1999", "-o", out, url}));
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "< HTTP/1.1 206 Partial Content"));
    CHECK(contains(r.output, "< Content-Range: bytes 1000-1999/100000"));
    CHECK(dir.read("part.bin") == data.substr(1000, 1000));

    r = run_peer(curl({"-r", "200000-", "-o", "/dev/null", url}));
    CHECK(contains(r.output, "< HTTP/1.1 416 "));

    const char* script = R"(
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
c.request("GET", "/files/data.bin", headers={"Range": "bytes=-10"})
r = c.getresponse(); body = r.read()
print("range", r.status, r.getheader("Content-Range"), len(body), body.hex()[:8])
etag = r.getheader("ETag")
c.request("GET", "/files/data.bin", headers={"If-None-Match": etag})
r = c.getresponse(); r.read()
print("conditional", r.status)
)";
    r = run_peer(python(script, {std::to_string(server.address().port())}));
    INFO(r.output);
    CHECK(r.code == 0);
    char tail_hex[9];
    std::snprintf(tail_hex, sizeof tail_hex, "%02x%02x%02x%02x",
                  static_cast<unsigned char>(data[99990]), static_cast<unsigned char>(data[99991]),
                  static_cast<unsigned char>(data[99992]), static_cast<unsigned char>(data[99993]));
    CHECK(contains(r.output, std::string("range 206 bytes 99990-99999/100000 10 ") + tail_hex));
    CHECK(contains(r.output, "conditional 304"));
    CHECK(server.stop(5s));
  }
  fds.check();
}
