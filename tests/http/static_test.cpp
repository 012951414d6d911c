// send_from_directory: whole files (sendfile), HEAD, byte ranges (206/416), conditional GETs
// (304), Content-Type, and every way out of the root refused.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gev/http/app.hpp>
#include <gev/http/server.hpp>
#include <gev/http/static_files.hpp>

#include "net/net_support.hpp"

using namespace std::chrono_literals;
using gev::http::Request;
using gev::http::Response;
using gev::net::Socket;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gev-static-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  void write(const std::string& rel, const std::string& data) const {
    std::ofstream(path + "/" + rel, std::ios::binary) << data;
  }
};

std::string get(const gev::http::Server& s, const std::string& target,
                const std::string& extra_headers = "", const std::string& method = "GET") {
  Socket c = gev::net::create_connection("127.0.0.1", s.address().port(), 5s);
  c.settimeout(5s);
  c.sendall(method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
            extra_headers + "\r\n");
  return gev::test::read_to_eof(c, 8 << 20);
}

std::string body_of(const std::string& r) {
  const auto p = r.find("\r\n\r\n");
  return p == std::string::npos ? std::string() : r.substr(p + 4);
}

std::string header_of(const std::string& r, const std::string& name) {
  const auto p = r.find("\r\n" + name + ": ");
  if (p == std::string::npos) return {};
  const auto start = p + name.size() + 4;
  return r.substr(start, r.find("\r\n", start) - start);
}

}  // namespace

TEST_CASE("static files: whole, HEAD, ranges, conditional GET, content types, no way out") {
  gev::test::FdBaseline fds;
  TempDir root;
  TempDir outside;
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + (i >> 10));
  root.write("big.bin", big);
  root.write("index.html", "<h1>hi</h1>");
  ::mkdir((root.path + "/sub").c_str(), 0755);
  root.write("sub/a.txt", "sub file");
  outside.write("secret.txt", "secret");
  REQUIRE(::symlink((outside.path + "/secret.txt").c_str(), (root.path + "/link").c_str()) == 0);
  {
    gev::http::App app;
    const std::string dir = root.path;
    app.route(
        "/s/<path:file>",
        [dir](Request& req) { return gev::http::send_from_directory(dir, req.param("file"), req); },
        {"GET", "POST"});
    gev::http::ServerOptions o;
    o.access_log = nullptr;
    gev::http::Server server({"127.0.0.1", 0}, app, o);
    server.start();

    std::string r = get(server, "/s/big.bin");
    CHECK(r.rfind("HTTP/1.1 200 OK", 0) == 0);
    CHECK(header_of(r, "Content-Type") == "application/octet-stream");
    CHECK(header_of(r, "Content-Length") == std::to_string(big.size()));
    CHECK(body_of(r) == big);
    const std::string etag = header_of(r, "ETag");
    const std::string last_modified = header_of(r, "Last-Modified");
    CHECK(!etag.empty());
    CHECK(!last_modified.empty());

    r = get(server, "/s/index.html", "", "HEAD");
    CHECK(header_of(r, "Content-Type") == "text/html; charset=utf-8");
    CHECK(header_of(r, "Content-Length") == "11");
    CHECK(body_of(r).empty());
    CHECK(body_of(get(server, "/s/sub/a.txt")) == "sub file");

    r = get(server, "/s/big.bin", "Range: bytes=10-19\r\n");
    CHECK(r.rfind("HTTP/1.1 206 Partial Content", 0) == 0);
    CHECK(header_of(r, "Content-Range") == "bytes 10-19/1048576");
    CHECK(body_of(r) == big.substr(10, 10));
    r = get(server, "/s/big.bin", "Range: bytes=-100\r\n");
    CHECK(body_of(r) == big.substr(big.size() - 100));
    r = get(server, "/s/big.bin", "Range: bytes=1048000-\r\n");
    CHECK(body_of(r) == big.substr(1048000));
    r = get(server, "/s/big.bin", "Range: bytes=2000000-\r\n");
    CHECK(r.rfind("HTTP/1.1 416 ", 0) == 0);
    CHECK(header_of(r, "Content-Range") == "bytes */1048576");
    r = get(server, "/s/big.bin", "Range: bytes=0-1,5-6\r\n");  // several ranges: whole file
    CHECK(r.rfind("HTTP/1.1 200 OK", 0) == 0);
    r = get(server, "/s/big.bin", "Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n");
    CHECK(r.rfind("HTTP/1.1 200 OK", 0) == 0);  // validator changed: the whole new file
    r = get(server, "/s/big.bin", "Range: bytes=0-9\r\nIf-Range: " + etag + "\r\n");
    CHECK(r.rfind("HTTP/1.1 206 ", 0) == 0);

    r = get(server, "/s/big.bin", "If-None-Match: " + etag + "\r\n");
    CHECK(r.rfind("HTTP/1.1 304 Not Modified", 0) == 0);
    CHECK(body_of(r).empty());
    r = get(server, "/s/big.bin", "If-Modified-Since: " + last_modified + "\r\n");
    CHECK(r.rfind("HTTP/1.1 304 ", 0) == 0);
    r = get(server, "/s/big.bin", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
    CHECK(r.rfind("HTTP/1.1 200 ", 0) == 0);
    r = get(server, "/s/big.bin", "If-None-Match: \"other\"\r\n");
    CHECK(r.rfind("HTTP/1.1 200 ", 0) == 0);

    for (const char* bad :
         {"/s/..%2f..%2fetc%2fpasswd", "/s/../big.bin", "/s/sub/../../x", "/s/link", "/s/sub",
          "/s/missing", "/s/%2fetc%2fpasswd", "/s/a%5c..%5cb", "/s/./big.bin"}) {
      CAPTURE(std::string(bad));
      r = get(server, bad);
      CHECK(r.rfind("HTTP/1.1 404 ", 0) == 0);
      CHECK(r.find("secret") == std::string::npos);
    }
    r = get(server, "/s/big.bin", "", "POST");
    CHECK(r.rfind("HTTP/1.1 405 ", 0) == 0);
    CHECK(server.stop(5s));
  }
  fds.check();
}
