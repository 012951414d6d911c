// gev's HTTP client against nginx (started by the test on loopback with a generated config):
// keep-alive reuse, gzip, chunked responses, redirects, ranges, 404, and large files intact.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include <gev/http/client.hpp>

#include "net/net_support.hpp"
#include "net/ssl_support.hpp"

using namespace std::chrono_literals;
using gev::http::Client;
using gev::http::ClientError;
using gev::http::RequestOptions;

namespace {

struct Nginx {
  std::string dir;
  int port = 0;
  std::unique_ptr<gev::test::ChildProcess> process;
  std::string error;

  Nginx() {
    char tmpl[] = "/tmp/gev-nginx-XXXXXX";
    dir = ::mkdtemp(tmpl);
    ::mkdir((dir + "/www").c_str(), 0755);
    {
      gev::net::Socket probe = gev::test::make_listener();  // a free port, released just before
      port = probe.local_address().port();
    }
    std::ofstream(dir + "/nginx.conf")
        << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        << "pid " << dir << "/nginx.pid;\nerror_log " << dir << "/error.log;\n"
        << "events { worker_connections 256; }\nhttp {\n"
        << "  access_log off;\n  client_body_temp_path " << dir << "/tmp;\n"
        << "  proxy_temp_path " << dir << "/tmp;\n  fastcgi_temp_path " << dir << "/tmp;\n"
        << "  uwsgi_temp_path " << dir << "/tmp;\n  scgi_temp_path " << dir << "/tmp;\n"
        << "  keepalive_requests 1000;\n  default_type application/octet-stream;\n"
        << "  types { text/plain txt; }\n"
        << "  server {\n    listen 127.0.0.1:" << port << ";\n    root " << dir << "/www;\n"
        << "    location /gz/ { gzip on; gzip_min_length 0; gzip_types text/plain; }\n"
        << "    location = /r1 { return 301 /r2; }\n"
        << "    location = /r2 { return 302 http://127.0.0.1:" << port << "/small.txt; }\n"
        << "    location = /loop { return 301 /loop; }\n"
        << "  }\n}\n";
  }
  ~Nginx() {
    process.reset();  // killed and reaped
    std::system(("rm -rf '" + dir + "'").c_str());
  }
  void write(const std::string& rel, const std::string& data) const {
    ::mkdir((dir + "/www/gz").c_str(), 0755);
    std::ofstream(dir + "/www/" + rel, std::ios::binary) << data;
  }
  bool start() {
    ::mkdir((dir + "/tmp").c_str(), 0755);
    process = std::make_unique<gev::test::ChildProcess>(
        std::vector<std::string>{"/usr/sbin/nginx", "-p", dir, "-c", dir + "/nginx.conf"});
    if (!process->started()) return false;
    for (int i = 0; i < 500; ++i) {  // up to ~5 s for nginx to listen
      try {
        gev::net::create_connection("127.0.0.1", static_cast<std::uint16_t>(port), 1s);
        return true;
      } catch (const std::exception&) {
        gev::sleep(10ms);
      }
    }
    std::ifstream log(dir + "/error.log");
    error.assign(std::istreambuf_iterator<char>(log), {});
    return false;
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 2654435761u + seed) >> 13);
  return s;
}

}  // namespace

TEST_CASE("client against nginx: keep-alive, gzip (chunked), redirects, ranges, large files") {
  Nginx nginx;
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "compressible line " + std::to_string(i) + "\n";
  const std::string large = pattern(20 << 20, 7);
  nginx.write("small.txt", "small file\n");
  nginx.write("gz/text.txt", text);
  nginx.write("large.bin", large);
  REQUIRE_MESSAGE(nginx.start(), "nginx did not start: " << nginx.error);

  gev::http::ClientOptions co;
  co.use_env_proxy = false;
  Client client(co);
  auto r = client.get(nginx.url("/small.txt"));
  CHECK(r.status == 200);
  CHECK(r.body == "small file\n");
  CHECK(r.header("Server").substr(0, 5) == "nginx");
  for (int i = 0; i < 5; ++i) CHECK(client.get(nginx.url("/small.txt")).reused_connection);

  r = client.get(nginx.url("/gz/text.txt"));
  CHECK(r.header("Content-Encoding") == "gzip");
  CHECK(r.header("Transfer-Encoding") == "chunked");  // nginx streams gzip output chunked
  CHECK(r.body == text);

  r = client.get(nginx.url("/r1"));
  CHECK(r.status == 200);
  CHECK(r.redirects == 2);
  CHECK(r.body == "small file\n");
  try {
    client.get(nginx.url("/loop"));
    FAIL("a redirect loop must fail");
  } catch (const ClientError& e) {
    CHECK(e.kind() == ClientError::Kind::too_many_redirects);
  }
  CHECK(client.get(nginx.url("/missing")).status == 404);

  RequestOptions range;
  range.range = {{1000, 1999}};
  r = client.get(nginx.url("/large.bin"), range);
  CHECK(r.status == 206);
  CHECK(r.body == large.substr(1000, 1000));
  range.range = {{large.size() - 10, std::nullopt}};
  CHECK(client.get(nginx.url("/large.bin"), range).body == large.substr(large.size() - 10));

  r = client.get(nginx.url("/large.bin"));
  CHECK(r.body.size() == large.size());
  CHECK(r.body == large);
  std::string streamed;
  std::size_t pieces = 0;
  client.stream(nginx.url("/large.bin"), [&](std::string_view p) {
    streamed += p;
    ++pieces;
  });
  CHECK(streamed == large);
  CHECK(pieces > 10);

  // Several greenlets share the client's pool.
  std::vector<std::shared_ptr<gev::Greenlet<bool>>> gs;
  for (int i = 0; i < 20; ++i) {
    gs.push_back(gev::spawn([&] { return client.get(nginx.url("/gz/text.txt")).body == text; }));
  }
  gev::joinall(gs, 30s);
  for (auto& g : gs) CHECK(g->get());
}
