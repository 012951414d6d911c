// A TLS client: connects, verifies the server's certificate and name, sends an HTTP GET with
// Boost.Beast over the TLS stream and prints the response. Try it against a local server:
//
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30
//       -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem -out cert.pem
//       (one command)
//   openssl s_server -accept 127.0.0.1:4433 -cert cert.pem -key key.pem -www &
//   tls_client localhost 4433 cert.pem          # trust that certificate
//   tls_client example.com 443                  # the system's trust store
//
//   tls_client HOST PORT [CA_FILE] [PATH]
#include <gev/gev.hpp>
#include <gev/net/ssl_context.hpp>
#include <gev/net/ssl_stream.hpp>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace ssl = gev::net::ssl;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HOST PORT [CA_FILE] [PATH]\n", argv[0]);
    return 2;
  }
  const std::string host = argv[1];
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const std::string path = argc > 4 ? argv[4] : "/";
  ssl::ContextOptions options;
  if (argc > 3 && *argv[3]) options.ca_file = argv[3];  // else: the system's trust store
  options.alpn_protocols = {"http/1.1"};
  try {
    // Every step parks this greenlet, never the thread; 10 s bounds each one.
    gev::net::Socket sock = gev::net::create_connection(host, port, 10s);
    ssl::Stream tls = ssl::wrap_client(std::move(sock), host, ssl::Context::client(options));
    std::printf("connected to %s:%u with %s (%s), certificate %s issued by %s, ALPN %s\n",
                host.c_str(), port, tls.version().c_str(), tls.cipher().c_str(),
                tls.peer_subject().c_str(), tls.peer_issuer().c_str(),
                tls.selected_alpn().empty() ? "none" : tls.selected_alpn().c_str());

    http::request<http::empty_body> request{http::verb::get, path, 11};
    request.set(http::field::host, host);
    request.set(http::field::user_agent, "gev tls_client");
    request.keep_alive(false);
    http::write(tls, request);

    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(tls, buffer, response);  // to EOF when the server sends no Content-Length
    std::printf("HTTP %u %s, %zu body bytes%s\n", response.result_int(),
                std::string(response.reason()).c_str(), response.body().size(),
                tls.ragged_eof() ? " (the server closed without close_notify)" : "");
    std::fwrite(response.body().data(), 1, response.body().size(), stdout);
    if (!response.body().empty() && response.body().back() != '\n') std::putchar('\n');
    tls.close();
  } catch (const ssl::CertificateError& e) {
    std::fprintf(stderr, "tls_client: refused the server's certificate: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tls_client: %s\n", e.what());
    return 1;
  }
  return 0;
}
