// libFuzzer target: arbitrary bytes, cut into segments, sent to one gev::http server connection
// over a socketpair (the client side half-closes at the end). The server must never crash, hang
// or answer anything but HTTP/1.x responses; sanitizers watch the memory.
//
//   make fuzz                      (builds with clang in build-fuzz, runs for a while)
//   build-fuzz/fuzz/http_server_fuzz -max_total_time=60 fuzz/corpus/http_server
//
// Input format: the first byte selects the segment size (1 + byte % 64); the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/server.hpp>
#include <gev/net/socket.hpp>

namespace {

gev::http::App make_app() {
  gev::http::App app;
  app.route("/", [](gev::http::Request&) { return gev::http::Response{200, "ok"}; });
  app.route("/echo", [](gev::http::Request& r) { return gev::http::Response::text(200, r.body()); },
            {"GET", "POST", "PUT"});
  app.route("/form",
            [](gev::http::Request& r) {
              std::string out;
              for (auto& [k, v] : r.form()) out += k + "=" + v + ";";
              for (auto& [k, v] : r.query_params()) out += k + "=" + v + ";";
              return gev::http::Response::text(200, out);
            },
            {"GET", "POST"});
  app.route("/u/<id>/<path:rest>", [](gev::http::Request& r) {
    return gev::http::Response::text(200, r.param("id") + r.param("rest"));
  });
  app.route("/stream", [](gev::http::Request&) {
    return gev::http::Response::stream(200, [](gev::http::BodyWriter& w) {
      w.write("a");
      w.write("b");
    });
  });
  return app;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono_literals;
  if (size == 0) return 0;
  static const gev::http::App app = make_app();
  static const gev::http::ServerOptions options = [] {
    gev::http::ServerOptions o;
    o.access_log = nullptr;
    o.header_timeout = 200ms;
    o.body_timeout = 200ms;
    o.keepalive_timeout = 200ms;
    o.send_timeout = 1s;
    o.max_body_bytes = 4096;
    o.max_header_bytes = 2048;
    o.max_request_line = 512;
    return o;
  }();
  const std::size_t segment = 1 + data[0] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  auto [client, server_end] = gev::net::socketpair();
  gev::net::Address peer;
  auto server = gev::spawn([&, &s = server_end] {
    gev::http::detail::serve_connection(s, peer, app, options);
    s.close();  // as the server does when a connection's greenlet ends
  });
  auto writer = gev::spawn([&, &c = client] {
    try {
      for (std::size_t i = 0; i < input.size(); i += segment) {
        c.sendall(input.substr(i, segment));
        gev::sleep(0s);
      }
      c.shutdown(SHUT_WR);
    } catch (const std::exception&) {
      // the server closed first
    }
  });
  std::string out;
  char buf[65536];
  client.settimeout(5s);
  try {
    for (;;) {
      const std::size_t n = client.recv(buf, sizeof buf);
      if (n == 0) break;
      out.append(buf, n);
    }
  } catch (const std::exception&) {
  }
  server->join(10s);
  writer->join(10s);
  if (!server->ready()) __builtin_trap();  // a connection that never ends
  if (!out.empty() && out.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
