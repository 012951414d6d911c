// A static file server: every file under DIR at its path, with ranges (206, 416), ETags and
// conditional GETs, sendfile for bodies, and an access log. `make demo` serves its generated
// files with it and downloads them with gevget.
//
//   file_server DIR [HOST [PORT]]     (default 127.0.0.1 8000; PORT 0 picks a free one)
//
// It prints "serving on http://HOST:PORT (DIR)" and serves until SIGINT or SIGTERM (graceful).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/server.hpp>
#include <gev/http/static_files.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [HOST [PORT]]\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  const std::string host = argc > 2 ? argv[2] : "127.0.0.1";
  const int port = argc > 3 ? std::atoi(argv[3]) : 8000;

  gev::http::App app;
  app.route("/<path:file>", [&root](gev::http::Request& req) {
    return gev::http::send_from_directory(root, req.param("file"), req);
  });
  gev::http::ServerOptions options;
  options.access_log = nullptr;  // quiet: the demo's output is gevget's
  gev::http::Server server{{host, static_cast<std::uint16_t>(port)}, app, options};
  server.start();
  std::printf("serving on http://%s (%s)\n", server.address().to_string().c_str(), root.c_str());
  std::fflush(stdout);

  auto stop = [&server] { server.stop(std::chrono::seconds(5)); };
  auto on_int = gev::signal_handler(SIGINT, stop);
  auto on_term = gev::signal_handler(SIGTERM, stop);
  server.serve_forever();
  return 0;
}
