/// @file
/// Socket addresses: IPv4, IPv6 and Unix-domain, printable and comparable.
///
/// @code
/// gev::net::Address a{"127.0.0.1", 8000};   // numeric only; names go through resolve()
/// gev::net::Address u = gev::net::Address::unix_path("/tmp/app.sock");
/// a.to_string();                              // "127.0.0.1:8000", "[::1]:8000",
///                                             // "unix:/tmp/app.sock"
/// @endcode
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace gev::net {

/// A socket address: IPv4, IPv6 or Unix-domain (a sockaddr_storage and its length).
class Address {
 public:
  /// An empty address (family AF_UNSPEC, length 0), printed as "(no address)".
  Address() noexcept;
  /// A numeric IPv4 or IPv6 host ("127.0.0.1", "::1" or "[::1]", "" = any IPv4 address) and a
  /// port. Throws std::invalid_argument naming the host if it is not numeric (use resolve()).
  Address(std::string_view host, std::uint16_t port);
  /// A Unix-domain socket path. Throws std::invalid_argument if the path is too long.
  static Address unix_path(std::string_view path);
  /// A copy of the first `len` bytes of `sa` (at most a sockaddr_storage).
  static Address from_sockaddr(const sockaddr* sa, socklen_t len);

  /// The address family: AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when empty.
  int family() const noexcept { return storage_.ss_family; }
  /// The raw address, for system calls such as bind(2) and connect(2).
  const sockaddr* sockaddr_ptr() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  /// The raw address, writable (room for a sockaddr_storage), for accept(2) and the like.
  sockaddr* sockaddr_ptr() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  /// The length of the raw address in bytes.
  socklen_t length() const noexcept { return length_; }
  /// Sets the raw address's length, after a system call filled sockaddr_ptr().
  void set_length(socklen_t len) noexcept { length_ = len; }

  std::string host() const;             ///< The numeric host, or the path for Unix sockets.
  std::uint16_t port() const noexcept;  ///< The port; 0 for Unix-domain and empty addresses.
  std::string to_string() const;        ///< "1.2.3.4:80", "[::1]:80", "unix:/path".

  /// True if both hold the same raw address (same length and bytes).
  friend bool operator==(const Address& a, const Address& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t length_;
};

/// True if `host` is a numeric IPv4/IPv6 literal, bracketed IPv6 or "" (no resolver needed).
bool is_numeric_host(std::string_view host) noexcept;

}  // namespace gev::net
