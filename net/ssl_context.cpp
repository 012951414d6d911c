#include "gev/net/ssl_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "gev/net/ssl_error.hpp"

namespace gev::net::ssl {

struct Context::State {
  SSL_CTX* ctx = nullptr;
  Role role = Role::client;
  Verify verify = Verify::required;
  bool check_hostname = true;
  std::vector<std::string> alpn;
  std::string alpn_wire;  // length-prefixed names, as TLS sends them

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { SSL_CTX_free(ctx); }
};

namespace {

[[noreturn]] void config_error(const std::string& what) {
  std::string reasons = detail::take_openssl_errors();
  throw Error(errc::invalid_configuration,
              "gev::net::ssl::Context: " + what + (reasons.empty() ? "" : ": " + reasons));
}

int version_number(TlsVersion v) {
  return v == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

// A server's ALPN choice: its own first protocol that the client also offers; no ALPN at all
// (rather than a failed handshake) when they share none, as Python and Go do.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* wire = static_cast<const std::string*>(arg);
  if (wire->empty() || inlen == 0) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  unsigned char chosen_len = 0;
  const int r = SSL_select_next_proto(&chosen, &chosen_len,
                                      reinterpret_cast<const unsigned char*>(wire->data()),
                                      static_cast<unsigned int>(wire->size()), in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  *outlen = chosen_len;
  return SSL_TLSEXT_ERR_OK;
}

// Never let OpenSSL prompt on the terminal for a key's passphrase.
int no_password(char*, int, int, void*) {
  return 0;
}

}  // namespace

Context::Context(Role role, const ContextOptions& options) {
  auto state = std::make_shared<State>();
  state->role = role;
  state->verify = options.verify.value_or(role == Role::client ? Verify::required : Verify::none);
  state->check_hostname = options.check_hostname;
  state->alpn = options.alpn_protocols;
  for (const std::string& name : options.alpn_protocols) {
    if (name.empty() || name.size() > 255) {
      throw std::invalid_argument("gev::net::ssl::Context: ALPN protocol name '" + name +
                                  "' must be 1 to 255 bytes");
    }
    state->alpn_wire += static_cast<char>(name.size());
    state->alpn_wire += name;
  }
  const bool server = role == Role::server;
  if (server && options.cert_chain_file.empty()) {
    throw std::invalid_argument(
        "gev::net::ssl::Context: a server context needs cert_chain_file (and key_file)");
  }
  if (options.max_version &&
      version_number(*options.max_version) < version_number(options.min_version)) {
    throw std::invalid_argument("gev::net::ssl::Context: max_version is below min_version");
  }

  ERR_clear_error();
  state->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (state->ctx == nullptr) config_error("SSL_CTX_new");
  SSL_CTX* ctx = state->ctx;

  SSL_CTX_set_default_passwd_cb(ctx, &no_password);
  if (SSL_CTX_set_min_proto_version(ctx, version_number(options.min_version)) != 1) {
    config_error("minimum TLS version");
  }
  if (options.max_version &&
      SSL_CTX_set_max_proto_version(ctx, version_number(*options.max_version)) != 1) {
    config_error("maximum TLS version");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // send() may return after part of the buffer (like a socket's), and a retried write may come
  // from a moved buffer (Beast's and sendall's loops).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, options.ciphers.c_str()) != 1) {
    config_error("cipher list '" + options.ciphers + "'");
  }

  // Trust.
  const bool verifying = state->verify != Verify::none;
  if (!options.ca_file.empty() || !options.ca_dir.empty()) {
    const char* file = options.ca_file.empty() ? nullptr : options.ca_file.c_str();
    const char* dir = options.ca_dir.empty() ? nullptr : options.ca_dir.c_str();
    if (SSL_CTX_load_verify_locations(ctx, file, dir) != 1) {
      config_error("load_verify_locations " + (file ? options.ca_file : options.ca_dir));
    }
    if (server && file) {
      // Tell clients which CAs we accept, so they pick the right certificate.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(file)) {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
      ERR_clear_error();
    }
  } else if (verifying && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    config_error("the system's default verify paths");
  }
  int mode = SSL_VERIFY_NONE;
  if (verifying) {
    mode = SSL_VERIFY_PEER;
    if (server && state->verify == Verify::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(ctx, mode, nullptr);
  X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(ctx), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);

  // Our certificate chain.
  if (!options.cert_chain_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_chain_file.c_str()) != 1) {
      config_error("certificate chain " + options.cert_chain_file);
    }
    const std::string& key = options.key_file.empty() ? options.cert_chain_file : options.key_file;
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      config_error("private key " + key + " for " + options.cert_chain_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      config_error("private key " + key + " does not match " + options.cert_chain_file);
    }
  } else if (!options.key_file.empty()) {
    throw std::invalid_argument("gev::net::ssl::Context: key_file without cert_chain_file");
  }

  // ALPN.
  if (!state->alpn_wire.empty()) {
    if (server) {
      SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, &state->alpn_wire);
    } else if (SSL_CTX_set_alpn_protos(
                   ctx, reinterpret_cast<const unsigned char*>(state->alpn_wire.data()),
                   static_cast<unsigned int>(state->alpn_wire.size())) != 0) {
      config_error("ALPN protocols");
    }
  }
  if (server) {
    // Needed for session resumption when client certificates are verified.
    static const unsigned char id[] = "gev";
    SSL_CTX_set_session_id_context(ctx, id, sizeof id - 1);
  }
  state_ = std::move(state);
}

Context Context::server(std::string cert_chain_file, std::string key_file) {
  ContextOptions options;
  options.cert_chain_file = std::move(cert_chain_file);
  options.key_file = std::move(key_file);
  return Context(Role::server, options);
}

const Context& Context::default_client() {
  static const Context context(Role::client);
  return context;
}

Role Context::role() const noexcept {
  return state_->role;
}
Verify Context::verify() const noexcept {
  return state_->verify;
}
bool Context::check_hostname() const noexcept {
  return state_->check_hostname;
}
const std::vector<std::string>& Context::alpn_protocols() const noexcept {
  return state_->alpn;
}
ssl_ctx_st* Context::native_handle() const noexcept {
  return state_->ctx;
}

}  // namespace gev::net::ssl
