/// @file
/// Name resolution with getaddrinfo semantics, cooperative: the calling greenlet parks while a
/// resolver works, other greenlets run meanwhile. Numeric hosts never touch a resolver.
///
/// Two resolvers, chosen for the whole process (gevent's GEVENT_RESOLVER):
///
/// - `thread` (the default): the system's getaddrinfo on a small thread pool per hub thread: it
///   honours everything the C library does (/etc/nsswitch.conf, /etc/hosts, NSS modules such as
///   mDNS or LDAP, /etc/resolv.conf).
/// - `ares`: c-ares on the hub: its sockets are libev watchers and its timeouts a libev timer, so
///   a lookup costs no thread and any number of them run at once. It reads /etc/hosts (first)
///   and /etc/resolv.conf (servers, search, ndots, timeout, attempts), not NSS modules;
///   "localhost" and names under ".localhost" never go to a server (RFC 6761): /etc/hosts, else
///   the loopback address. One c-ares channel per hub thread, created on first use, destroyed
///   with the hub (a forked child makes its own).
///
/// @code
/// export GEV_RESOLVER=ares                                 // read once, at the first lookup
/// gev::net::set_resolver(gev::net::ResolverKind::ares);   // or in code (overrides the env)
/// gev::net::set_ares_servers("127.0.0.1:5353,[::1]:53");  // ares only: ask these servers
/// auto addrs = gev::net::resolve("example.com", 443);      // same call either way
/// @endcode
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gev/net/address.hpp"

namespace gev::net {

/// A lookup failure: the resolver's message and the name asked for. code() is a getaddrinfo
/// EAI_* value whichever resolver ran (c-ares statuses are mapped: not found -> EAI_NONAME, no
/// address of that family -> EAI_NODATA, timeout / server unreachable or refusing -> EAI_AGAIN,
/// bad family -> EAI_FAMILY, out of memory -> EAI_MEMORY, malformed answers -> EAI_FAIL).
class gaierror : public std::runtime_error {
 public:
  /// A failure with the EAI_* value `code` and the message `what`.
  gaierror(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }  ///< The EAI_* value: EAI_NONAME, EAI_AGAIN, ...

 private:
  int code_;
};

/// Addresses for host:port, in the order the resolver returns them (both sort them by RFC 6724),
/// without duplicates. family: AF_UNSPEC, AF_INET, AF_INET6; type: SOCK_STREAM or SOCK_DGRAM.
/// Must run in a greenlet (or the main greenlet) of the calling thread's hub, not in a hub
/// callback. Throws gaierror; std::invalid_argument if GEV_RESOLVER names no resolver. A
/// Timeout or kill while parked here is safe: the lookup is abandoned (its answer, when it comes,
/// is dropped) and the resolver stays usable.
std::vector<Address> resolve(std::string_view host, std::uint16_t port, int family = AF_UNSPEC,
                             int type = SOCK_STREAM);

// ---- choosing a resolver -------------------------------------------------------------------

/// The resolver behind resolve() (see set_resolver() and GEV_RESOLVER).
enum class ResolverKind {
  thread,  ///< getaddrinfo on a thread pool (the default).
  ares,    ///< c-ares driven by the hub's loop.
};

/// The resolver every later resolve() of every thread uses (lookups in flight finish with the
/// one they started with). Overrides GEV_RESOLVER. Thread-safe.
void set_resolver(ResolverKind kind) noexcept;
/// The resolver resolve() uses now: set_resolver()'s choice, else GEV_RESOLVER ("thread" or
/// "ares"; unset or empty means thread), which is read once, the first time it is needed. Throws
/// std::invalid_argument naming the value if GEV_RESOLVER holds anything else (and nothing was
/// set in code).
ResolverKind current_resolver();
/// The resolver's name: "thread" / "ares".
std::string_view resolver_name(ResolverKind kind) noexcept;
/// The resolver named "thread" / "ares" (nullopt for any other text).
std::optional<ResolverKind> parse_resolver(std::string_view name) noexcept;

// ---- configuring the c-ares resolver --------------------------------------------------------

/// Settings of the c-ares resolver (set_ares_options()); the defaults follow /etc/resolv.conf.
struct AresOptions {
  /// Name servers, comma-separated, each "ip", "ip:port", "[ipv6]" or "[ipv6]:port"
  /// ("127.0.0.1:5353,[::1]:53"). Empty: the nameserver lines of /etc/resolv.conf.
  std::string servers;
  /// How long to wait for one server's answer on the first try (c-ares doubles it on each
  /// later round of tries). Zero: /etc/resolv.conf's "options timeout:", else c-ares's 5 s.
  std::chrono::milliseconds timeout{0};
  /// Rounds of tries over the servers before giving up. Zero: /etc/resolv.conf's
  /// "options attempts:", else c-ares's 4.
  int tries = 0;
  /// Look in /etc/hosts before asking DNS (true), or ask DNS only (false).
  bool hosts_file = true;
};

/// Replaces the c-ares settings for every thread. Each hub's next c-ares lookup starts a fresh
/// channel with them (lookups in flight finish on the old channel, which then goes away).
/// Validates first: throws std::invalid_argument for a malformed server list, a negative
/// timeout or negative tries. Thread-safe. The resolver in use is unchanged (see set_resolver).
void set_ares_options(const AresOptions& options);
/// The settings set_ares_options() last stored (all defaults until then).
AresOptions ares_options();
/// set_ares_options() with only the server list changed.
void set_ares_servers(std::string_view servers);

}  // namespace gev::net
