#include "gev/net/ssl_error.hpp"

#include <openssl/err.h>

#include <string>

namespace gev::net::ssl {
namespace {

class Category : public std::error_category {
 public:
  const char* name() const noexcept override { return "gev.ssl"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::protocol_error:
        return "TLS protocol error";
      case errc::certificate_verify_failed:
        return "certificate verify failed";
      case errc::unexpected_eof:
        return "unexpected EOF (the peer closed the connection without close_notify)";
      case errc::invalid_configuration:
        return "invalid TLS configuration";
    }
    return "unknown TLS error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

namespace detail {

std::string take_openssl_errors() {
  std::string out;
  const char* file = nullptr;
  int line = 0;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long e = ERR_get_error_all(&file, &line, nullptr, &data, &flags)) {
    std::string one;
    if (const char* reason = ERR_reason_error_string(e)) {
      one = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      one = buf;
    }
    if ((flags & ERR_TXT_STRING) && data && *data) one += std::string(" (") + data + ")";
    if (out.find(one) != std::string::npos) continue;  // the same reason from two layers
    if (!out.empty()) out += "; ";
    out += one;
  }
  return out;
}

}  // namespace detail
}  // namespace gev::net::ssl
