/// @file
/// ssl::Context: the TLS settings shared by many connections (Python's ssl.SSLContext): which
/// certificates to trust, our own certificate chain and key, the peer verification mode, the
/// minimum protocol version and the ALPN protocols to offer or accept.
///
/// @code
/// auto tls = gev::net::ssl::wrap_client(std::move(sock), "example.com");   // system trust
///
/// gev::net::ssl::Context client = gev::net::ssl::Context::client({.ca_file = "ca.pem"});
/// gev::net::ssl::Context server = gev::net::ssl::Context::server("cert.pem", "key.pem");
/// @endcode
///
/// Safe defaults: a client verifies the server's certificate chain against the system's trust
/// store (or ca_file / ca_dir when given) and the server's name; TLS 1.2 is the minimum version.
///
/// A Context is configured once, when it is built, and is immutable afterwards; copies share one
/// OpenSSL SSL_CTX (a shared handle), so it is cheap to copy and safe to use from several threads
/// and hubs at once. Streams keep the Context they were made with alive. OpenSSL stays a private
/// dependency of gev::net: this header only forward-declares its handle type.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace gev::net::ssl {

/// Which side of the connection a Context (or Stream) is for.
enum class Role {
  client,  ///< Connects to a server (wrap_client, Stream::client).
  server   ///< Accepts clients (wrap_server, Stream::server, StreamServer).
};

/// How the peer's certificate is checked (Python's CERT_NONE / CERT_OPTIONAL / CERT_REQUIRED).
enum class Verify {
  none,      ///< Not requested (server) or not checked (client: anyone can impersonate the server).
  optional,  ///< A server asks for a client certificate and verifies it if one is sent.
  required   ///< The peer must present a certificate that verifies (a client's default).
};

/// A TLS protocol version (ContextOptions::min_version, ContextOptions::max_version).
enum class TlsVersion {
  tls1_2,  ///< TLS 1.2.
  tls1_3   ///< TLS 1.3.
};

/// The settings a Context is built with; every field has a safe default.
struct ContextOptions {
  /// Certificates to trust, PEM: a bundle file and/or a hashed directory (c_rehash). When both
  /// are empty and peers are verified, the system's default locations are used.
  std::string ca_file;
  std::string ca_dir;  ///< The hashed directory of certificates to trust (see ca_file).
  /// Our certificate chain (leaf first, then intermediates) and its private key, PEM, not
  /// password-protected. Required for a server; a client sends it when the server asks (mutual
  /// TLS). An empty key_file means the key is in cert_chain_file.
  std::string cert_chain_file;
  std::string key_file;  ///< The private key of cert_chain_file, PEM (see cert_chain_file).
  /// Peer verification. Unset: Verify::required for a client, Verify::none for a server.
  std::optional<Verify> verify;
  /// Clients: the server's certificate must be valid for the server_hostname given to
  /// wrap_client (DNS name, or an IP address literal checked against IP SANs). Only applies
  /// when verifying.
  bool check_hostname = true;
  TlsVersion min_version = TlsVersion::tls1_2;  ///< Nothing below TLS 1.2 is ever negotiated.
  std::optional<TlsVersion> max_version;        ///< Unset: the highest OpenSSL supports.
  /// ALPN protocol names in preference order ("h2", "http/1.1"). A client offers them; a server
  /// picks its first one the client also offers (no ALPN if none is shared). Each name is 1-255
  /// bytes.
  std::vector<std::string> alpn_protocols;
  /// TLS 1.2 cipher list in OpenSSL's syntax; empty: OpenSSL's default (TLS 1.3 suites are
  /// always OpenSSL's default).
  std::string ciphers;
};

/// The TLS settings shared by many connections (Python's ssl.SSLContext): immutable once built,
/// cheap to copy (copies share one OpenSSL SSL_CTX), usable from several threads at once.
class Context {
 public:
  /// A context for `role` built from `options`. Throws ssl::Error(errc::invalid_configuration)
  /// naming the file and OpenSSL's reason when a file cannot be loaded or the key does not match
  /// the certificate, std::invalid_argument for inconsistent options (a server without a
  /// certificate, an empty or too long ALPN name).
  explicit Context(Role role, const ContextOptions& options = {});
  /// A client context with the defaults (system trust store, verification on).
  Context() : Context(Role::client) {}

  /// A client context: Context(Role::client, options).
  static Context client(const ContextOptions& options = {}) {
    return Context(Role::client, options);
  }
  /// A server context: Context(Role::server, options).
  static Context server(const ContextOptions& options) { return Context(Role::server, options); }
  /// A server context with this certificate chain and key and the other options' defaults.
  static Context server(std::string cert_chain_file, std::string key_file = {});
  /// One shared client context with the defaults, built on first use (loading the system trust
  /// store once per process): what wrap_client uses when given no context.
  static const Context& default_client();

  Role role() const noexcept;  ///< Client or server.
  /// The verification mode in effect (ContextOptions::verify, or the role's default if unset).
  Verify verify() const noexcept;
  bool check_hostname() const noexcept;  ///< ContextOptions::check_hostname.
  /// ContextOptions::alpn_protocols, in preference order.
  const std::vector<std::string>& alpn_protocols() const noexcept;
  /// The OpenSSL SSL_CTX, for settings gev does not cover. Changing it affects every copy.
  ssl_ctx_st* native_handle() const noexcept;

 private:
  struct State;
  std::shared_ptr<const State> state_;
};

}  // namespace gev::net::ssl
