// HTTPS: http::Server with a TLS context, and clients that verify it. The certificate is a
// throwaway one made by the openssl tool for this run; only a client told to trust it accepts it.
#include <gev/gev.hpp>
#include <gev/http/client.hpp>
#include <gev/http/server.hpp>
#include <gev/net/ssl_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;
namespace http = gev::http;

int main() {
  const fs::path dir = fs::temp_directory_path() / ("gev-https-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string make_cert =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
      " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
      " -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  if (std::system(make_cert.c_str()) != 0) {
    std::fprintf(stderr, "https_server: openssl req failed\n");
    return 1;
  }

  // [server]
  const auto tls = gev::net::ssl::Context::server(cert, key);
  http::ServerOptions options;
  options.access_log = nullptr;
  http::Server server{{"127.0.0.1", 0},
                      tls,
                      [](http::Request&) { return http::Response::text(200, "hello over TLS"); },
                      options};
  server.start();
  const std::string url = "https://" + server.address().to_string() + "/";
  // [server]

  // [clients]
  auto fetch = [&url](const char* who, const http::ClientOptions& opts) {
    try {
      http::Client client(opts);
      std::printf("%-22s %s\n", who, client.get(url).body.c_str());
    } catch (const http::ClientError& e) {  // Kind::tls: handshake or verification failed
      std::printf("%-22s ClientError, kind tls: %s\n  %s\n", who,
                  e.kind() == http::ClientError::Kind::tls ? "yes" : "no", e.what());
    }
  };
  fetch("ca_file = cert.pem:", {.ca_file = cert});  // trust exactly this certificate
  fetch("system trust store:", {});                 // the default: it does not know our cert
  fetch("verify = false:", {.verify = false});      // gevget -k; an explicit choice only
  // [clients]
  server.stop();
  fs::remove_all(dir);
}
