/// @file
/// TLS errors (gevent.ssl's SSLError family). Every TLS failure is a std::system_error, so code
/// that already catches socket errors catches these too:
///
/// @code
/// try {
///   auto tls = gev::net::ssl::wrap_client(std::move(sock), "example.com");
/// } catch (const gev::net::ssl::CertificateError& e) {   // the peer's certificate was refused
///   e.verify_message();                                  // "certificate has expired"
/// } catch (const gev::net::ssl::Error& e) {              // any other TLS failure
/// } catch (const std::system_error& e) {                 // the transport: reset, timeout...
/// }
/// @endcode
///
/// Codes live in their own category, "gev.ssl" (ssl::errc below); e.code() == ssl::errc::... works.
/// Transport failures keep their errno (ECONNRESET, EPIPE, net::timeout's ETIMEDOUT) and are not
/// ssl::Errors. Messages say what failed, with which peer, and OpenSSL's reason.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace gev::net::ssl {

/// The codes of TLS failures, in the "gev.ssl" error category (comparable with e.code()).
enum class errc {
  protocol_error = 1,             ///< A TLS failure: handshake failure, alert, bad record...
  certificate_verify_failed = 2,  ///< The peer's certificate chain or name was refused.
  unexpected_eof = 3,             ///< The peer closed the connection without close_notify.
  invalid_configuration = 4,      ///< A Context could not be built (unreadable file, bad key...).
};

/// The "gev.ssl" error category of ssl::errc codes.
const std::error_category& error_category() noexcept;
/// An error code of the "gev.ssl" category (makes errc usable as a std::error_code).
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// A TLS failure. code() is one of ssl::errc; what() is the message as given (it already says
/// what went wrong, so the code's own text is not appended as std::system_error would).
class Error : public std::system_error {
 public:
  /// An error with code `code` and the message `what`.
  Error(errc code, const std::string& what)
      : std::system_error(make_error_code(code), what), what_(what) {}
  /// The message as given to the constructor.
  const char* what() const noexcept override { return what_.what(); }

 private:
  std::runtime_error what_;  // a reference-counted string: copying cannot throw
};

/// Certificate verification failed (Python's SSLCertVerificationError). verify_code() is
/// OpenSSL's X509_V_ERR_* value and verify_message() its text: "certificate has expired",
/// "hostname mismatch", "unable to get local issuer certificate", "self-signed certificate"...
/// Its code() is errc::certificate_verify_failed.
class CertificateError : public Error {
 public:
  /// An error with OpenSSL's verification result (code and text) and the message `what`.
  CertificateError(long verify_code, std::string verify_message, const std::string& what)
      : Error(errc::certificate_verify_failed, what),
        verify_code_(verify_code),
        verify_message_(std::move(verify_message)) {}
  long verify_code() const noexcept { return verify_code_; }  ///< OpenSSL's X509_V_ERR_* value.
  /// OpenSSL's text for verify_code() ("certificate has expired"...).
  const std::string& verify_message() const noexcept { return verify_message_; }

 private:
  long verify_code_;
  std::string verify_message_;
};

namespace detail {
// OpenSSL's queued errors of this thread as one line ("wrong version number; ..."), and clears
// the queue. Empty if there were none. (For gev's own TLS sources.)
std::string take_openssl_errors();
}  // namespace detail

}  // namespace gev::net::ssl

/// @cond
template <>
struct std::is_error_code_enum<gev::net::ssl::errc> : std::true_type {};
/// @endcond
