#include "gev/net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace gev::net {

Address::Address() noexcept : length_(0) {
  std::memset(&storage_, 0, sizeof storage_);
}

Address::Address(std::string_view host, std::uint16_t port) : Address() {
  const std::string h(host.empty() ? "0.0.0.0" : host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage_);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length_ = sizeof(sockaddr_in);
    return;
  }
  std::memset(&storage_, 0, sizeof storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage_);
  std::string h6 = h;
  if (h6.size() > 2 && h6.front() == '[' && h6.back() == ']') h6 = h6.substr(1, h6.size() - 2);
  if (inet_pton(AF_INET6, h6.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length_ = sizeof(sockaddr_in6);
    return;
  }
  throw std::invalid_argument("gev::net::Address: '" + h +
                              "' is not a numeric IPv4/IPv6 address (use gev::net::resolve)");
}

Address Address::unix_path(std::string_view path) {
  Address a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
  if (path.size() >= sizeof un->sun_path) {
    throw std::invalid_argument("gev::net::Address: Unix socket path too long: " +
                                std::string(path));
  }
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  a.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

Address Address::from_sockaddr(const sockaddr* sa, socklen_t len) {
  Address a;
  if (len > sizeof a.storage_) len = sizeof a.storage_;
  std::memcpy(&a.storage_, sa, len);
  a.length_ = len;
  return a;
}

std::string Address::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (storage_.ss_family) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                sizeof buf);
      return buf;
    case AF_INET6:
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
                sizeof buf);
      return buf;
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      if (length_ <= offsetof(sockaddr_un, sun_path)) return "";
      return std::string(un->sun_path, strnlen(un->sun_path, sizeof un->sun_path));
    }
    default:
      return "";
  }
}

std::uint16_t Address::port() const noexcept {
  switch (storage_.ss_family) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default:
      return 0;
  }
}

std::string Address::to_string() const {
  switch (storage_.ss_family) {
    case AF_INET:
      return host() + ":" + std::to_string(port());
    case AF_INET6:
      return "[" + host() + "]:" + std::to_string(port());
    case AF_UNIX:
      return "unix:" + host();
    default:
      return "(no address)";
  }
}

bool operator==(const Address& a, const Address& b) noexcept {
  return a.length_ == b.length_ && std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

bool is_numeric_host(std::string_view host) noexcept {
  try {
    Address a(host, 0);
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace gev::net
