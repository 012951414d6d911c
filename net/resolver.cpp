#include "gev/net/resolver.hpp"

#include <memory>

#include "gev/runtime/thread_pool.hpp"

namespace gev::net {
namespace {

// getaddrinfo blocks its thread, so it runs on a small pool per hub thread, created on first
// use (after the hub, so destroyed before it at thread exit).
gev::ThreadPool& resolver_pool() {
  thread_local gev::ThreadPool pool{4};
  return pool;
}

std::vector<Address> blocking_getaddrinfo(const std::string& host, std::uint16_t port, int family,
                                          int type) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = type;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
    // AI_ADDRCONFIG hides loopback-only answers on hosts without external addresses: retry.
    hints.ai_flags = 0;
    rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  }
  if (rc != 0) {
    throw gaierror(rc, "gev::net::resolve(" + host + "): " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(result, ::freeaddrinfo);
  std::vector<Address> out;
  for (addrinfo* ai = result; ai; ai = ai->ai_next) {
    Address a = Address::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    bool duplicate = false;
    for (const auto& seen : out) duplicate = duplicate || seen == a;
    if (!duplicate) out.push_back(a);
  }
  if (out.empty()) throw gaierror(EAI_NONAME, "gev::net::resolve(" + host + "): no addresses");
  return out;
}

}  // namespace

std::vector<Address> resolve(std::string_view host, std::uint16_t port, int family, int type) {
  if (host.empty() || is_numeric_host(host)) {
    Address a(host, port);
    if (family != AF_UNSPEC && a.family() != family) {
      throw gaierror(EAI_FAMILY, "gev::net::resolve(" + std::string(host) +
                                     "): address family does not match the one asked for");
    }
    return {a};
  }
  std::string name(host);
  return resolver_pool().apply(
      [name, port, family, type] { return blocking_getaddrinfo(name, port, family, type); });
}

}  // namespace gev::net
