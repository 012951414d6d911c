// A streamed response: the handler produces the body piece by piece while it is being sent
// (chunked on the wire), here a countdown with a pause between lines, as a WSGI app would
// yield them. Other connections are served meanwhile: each one is its own greenlet.
//
//   streaming_response [HOST [PORT]]        (default 127.0.0.1 8000)
//
// Prints "serving on http://HOST:PORT"; GET /countdown/N streams N lines. SIGINT/SIGTERM stop it.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/server.hpp>

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const std::string host = argc > 1 ? argv[1] : "127.0.0.1";
  const int port = argc > 2 ? std::atoi(argv[2]) : 8000;

  // [route]
  gev::http::App app;
  app.route("/countdown/<n>", [](gev::http::Request& req) {
    const int n = std::atoi(req.param("n").c_str());
    if (n < 0 || n > 1000) return gev::http::Response::text(400, "0 <= n <= 1000\n");
    return gev::http::Response::stream(200, [n](gev::http::BodyWriter& out) {
      for (int i = n; i > 0; --i) {
        out.write(std::to_string(i) + "...\n");
        gev::sleep(50ms);  // parks this connection only
      }
      out.write("liftoff\n");
    });
  });
  // [route]

  gev::http::ServerOptions options;
  options.access_log = nullptr;
  gev::http::Server server{{host, static_cast<std::uint16_t>(port)}, app, options};
  server.start();
  std::printf("serving on http://%s\n", server.address().to_string().c_str());
  std::fflush(stdout);
  auto stop = [&server] { server.stop(5s); };
  auto on_int = gev::signal_handler(SIGINT, stop);
  server.serve_forever();  // SIGTERM: handled by serve_forever itself
  return 0;
}
