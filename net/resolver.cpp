#include "gev/net/resolver.hpp"

#include <atomic>
#include <cstdlib>
#include <memory>

#include "gev/net/detail/ares_resolver.hpp"
#include "gev/runtime/thread_pool.hpp"

namespace gev::net {
namespace {

// ---- the "thread" resolver -------------------------------------------------------------------

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

// ---- selection -------------------------------------------------------------------------------

constexpr int kNotSet = -1;
std::atomic<int> g_chosen{kNotSet};  // set_resolver()'s choice, a ResolverKind, or kNotSet

// GEV_RESOLVER, read once (a function-local static: initialised exactly once, thread-safe).
struct EnvChoice {
  std::optional<ResolverKind> kind;
  std::string error;  // why there is no kind
};

const EnvChoice& env_choice() {
  static const EnvChoice choice = [] {
    EnvChoice c;
    const char* value = std::getenv("GEV_RESOLVER");
    if (value == nullptr || *value == '\0') {
      c.kind = ResolverKind::thread;
    } else if (auto kind = parse_resolver(value)) {
      c.kind = *kind;
    } else {
      c.error = std::string("gev: GEV_RESOLVER=\"") + value +
                "\" names no resolver; use \"thread\" (the default: getaddrinfo on a thread "
                "pool) or \"ares\" (c-ares on the hub)";
    }
    return c;
  }();
  return choice;
}

}  // namespace

void set_resolver(ResolverKind kind) noexcept {
  g_chosen.store(static_cast<int>(kind), std::memory_order_release);
}

ResolverKind current_resolver() {
  const int chosen = g_chosen.load(std::memory_order_acquire);
  if (chosen != kNotSet) return static_cast<ResolverKind>(chosen);
  const EnvChoice& env = env_choice();
  if (!env.kind) throw std::invalid_argument(env.error);
  return *env.kind;
}

std::string_view resolver_name(ResolverKind kind) noexcept {
  switch (kind) {
    case ResolverKind::thread:
      return "thread";
    case ResolverKind::ares:
      return "ares";
  }
  return "?";
}

std::optional<ResolverKind> parse_resolver(std::string_view name) noexcept {
  if (name == "thread") return ResolverKind::thread;
  if (name == "ares") return ResolverKind::ares;
  return std::nullopt;
}

// ---- resolve ---------------------------------------------------------------------------------

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
  if (current_resolver() == ResolverKind::ares) {
    return detail::ares_resolve(name, port, family, type);
  }
  return resolver_pool().apply(
      [name, port, family, type] { return blocking_getaddrinfo(name, port, family, type); });
}

}  // namespace gev::net
