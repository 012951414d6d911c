// TLS both ways: a StreamServer serving TLS, a verified client, and a client that refuses it.
// The throwaway certificate comes from the openssl command-line tool, into a temporary folder.
#include <gev/gev.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

using namespace std::chrono_literals;
namespace ssl = gev::net::ssl;

int main() {
  char dir_template[] = "/tmp/tls_echo_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  const std::string make_cert =  // runs before the hub does anything: blocking is fine here
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  if (std::system(make_cert.c_str()) != 0) return 1;

  gev::net::StreamServer server{{"127.0.0.1", 0},
                                ssl::Context::server(cert, key),
                                [](ssl::Stream& client, const gev::net::Address&) {
                                  char buf[4096];  // the handshake is already done here
                                  while (std::size_t n = client.recv(buf, sizeof buf))
                                    client.sendall(buf, n);
                                }};
  server.start();
  const std::uint16_t port = server.address().port();

  ssl::ContextOptions options;
  options.ca_file = cert;  // trust our certificate (instead of the system's store)
  const auto trusting = ssl::Context::client(options);  // build once, share between streams
  auto sock = gev::net::create_connection("127.0.0.1", port, 5s);
  ssl::Stream tls = ssl::wrap_client(std::move(sock), "localhost", trusting);  // name checked
  std::printf("%s with %s\n", tls.version().c_str(), tls.peer_subject().c_str());
  tls.sendall("hello over TLS");
  char buf[256];
  const std::size_t n = tls.recv(buf, sizeof buf);
  std::printf("echo: %.*s\n", static_cast<int>(n), buf);
  tls.close();  // sends close_notify first

  try {  // the default context trusts only the system's CAs, not our self-signed certificate
    ssl::wrap_client(gev::net::create_connection("127.0.0.1", port, 5s), "localhost");
  } catch (const ssl::CertificateError& e) {
    std::printf("refused: %s\n", e.verify_message().c_str());
  }
  server.stop(1s);
  std::filesystem::remove_all(dir);
}
