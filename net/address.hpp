// Socket addresses: IPv4, IPv6 and Unix-domain, printable and comparable.
//
//   gev::net::Address a{"127.0.0.1", 8000};   // numeric only; names go through resolve()
//   gev::net::Address u = gev::net::Address::unix_path("/tmp/app.sock");
//   a.to_string();                              // "127.0.0.1:8000", "[::1]:8000",
//   "unix:/tmp/app.sock"
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace gev::net {

class Address {
 public:
  Address() noexcept;
  // A numeric IPv4 or IPv6 host ("127.0.0.1", "::1" or "[::1]", "" = any IPv4 address) and a
  // port. Throws std::invalid_argument naming the host if it is not numeric (use resolve()).
  Address(std::string_view host, std::uint16_t port);
  static Address unix_path(std::string_view path);
  static Address from_sockaddr(const sockaddr* sa, socklen_t len);

  int family() const noexcept { return storage_.ss_family; }
  const sockaddr* sockaddr_ptr() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  sockaddr* sockaddr_ptr() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const noexcept { return length_; }
  void set_length(socklen_t len) noexcept { length_ = len; }

  std::string host() const;  // numeric host, or the path for Unix sockets
  std::uint16_t port() const noexcept;
  std::string to_string() const;  // "1.2.3.4:80", "[::1]:80", "unix:/path"

  friend bool operator==(const Address& a, const Address& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t length_;
};

// True if `host` is a numeric IPv4/IPv6 literal, bracketed IPv6 or "" (no resolver needed).
bool is_numeric_host(std::string_view host) noexcept;

}  // namespace gev::net
