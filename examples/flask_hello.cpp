// The seed's WSGI example: a Flask app with one route, served by gevent.pywsgi -- here an
// http::App served by http::Server. Each connection is a greenlet.
//
//   flask_hello [HOST [PORT]]        (default 0.0.0.0 8000, like the seed's ('', 8000))
//
// It prints "serving on http://HOST:PORT" (the real port when PORT is 0) and serves until
// SIGINT or SIGTERM, which stop it gracefully.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <gev/gev.hpp>
#include <gev/http/app.hpp>
#include <gev/http/server.hpp>

int main(int argc, char** argv) {
  const std::string host = argc > 1 ? argv[1] : "0.0.0.0";
  const int port = argc > 2 ? std::atoi(argv[2]) : 8000;

  gev::http::App app;                       // app = Flask(__name__)
  app.route("/", [](gev::http::Request&) {  // @app.route("/")
    return gev::http::Response{200, "<h1>Hello Flask</h1>"};
  });

  // gevent.pywsgi.WSGIServer(('', 8000), app)
  gev::http::Server server{{host, static_cast<std::uint16_t>(port)}, app};
  server.start();
  std::printf("serving on http://%s\n", server.address().to_string().c_str());
  std::fflush(stdout);

  auto stop = [&server] { server.stop(std::chrono::seconds(5)); };
  auto on_int = gev::signal_handler(SIGINT, stop);
  auto on_term = gev::signal_handler(SIGTERM, stop);
  server.serve_forever();  // gevent_server.serve_forever()
  return 0;
}
