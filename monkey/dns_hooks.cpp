// getaddrinfo, gethostbyname(2)(_r), getnameinfo: in a greenlet the libc function runs on a pool
// of threads (10, like gevent's default thread resolver) while the greenlet parks, so
// /etc/hosts, nsswitch and every NSS module keep working. glibc's resolver calls poll/recvfrom
// internally, where no interposer sees them, so these are hooked themselves.
//
// Each lookup works on its own copies of the arguments and its own buffers: a greenlet killed
// while parked leaves at once, and the lookup finishes later on memory nobody else uses.
// Numeric hosts are answered by libc in place: they need no lookup.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <cstring>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gev/monkey/detail/fd_wait.hpp"
#include "gev/monkey/detail/original.hpp"
#include "gev/runtime/thread_pool.hpp"

namespace gev::monkey::detail {
namespace {

gev::ThreadPool& lookup_pool() {
  thread_local gev::ThreadPool pool{10};
  return pool;
}

std::optional<std::string> copy(const char* s) {
  if (s == nullptr) return std::nullopt;
  return std::string(s);
}

const char* c_str(const std::optional<std::string>& s) {
  return s ? s->c_str() : nullptr;
}

bool is_numeric_host(const char* node) {
  if (node == nullptr) return true;
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, node, buf) == 1 || inet_pton(AF_INET6, node, buf) == 1;
}

// A getaddrinfo result owned until handed to the caller (freed if the caller was killed).
struct AddrInfoResult {
  int status = 0;
  int error = 0;  // errno, for EAI_SYSTEM
  addrinfo* list = nullptr;
  AddrInfoResult() = default;
  AddrInfoResult(AddrInfoResult&& o) noexcept
      : status(o.status), error(o.error), list(std::exchange(o.list, nullptr)) {}
  AddrInfoResult& operator=(AddrInfoResult&&) = delete;
  ~AddrInfoResult() {
    if (list) ::freeaddrinfo(list);
  }
};

// A gethostbyname_r answer in a buffer of its own.
struct HostResult {
  int status = 0;  // the _r function's return value (0 or an errno value such as ERANGE)
  int h_error = 0;
  bool found = false;
  hostent entry{};
  std::vector<char> buffer;
};

HostResult lookup_host(const std::string& name, std::optional<int> family) {
  HostResult r;
  r.buffer.resize(1024);
  for (;;) {
    hostent* out = nullptr;
    r.status = family ? GEV_REAL(gethostbyname2_r)(name.c_str(), *family, &r.entry, r.buffer.data(),
                                                   r.buffer.size(), &out, &r.h_error)
                      : GEV_REAL(gethostbyname_r)(name.c_str(), &r.entry, r.buffer.data(),
                                                  r.buffer.size(), &out, &r.h_error);
    if (r.status == ERANGE && r.buffer.size() < (1u << 20)) {
      r.buffer.resize(r.buffer.size() * 2);
      continue;
    }
    r.found = r.status == 0 && out != nullptr;
    return r;
  }
}

// Copies `src` into (dst, buffer, length) the way gethostbyname_r lays it out: false if the
// buffer is too small (the caller gets ERANGE and retries with a bigger one).
bool pack_hostent(const hostent& src, hostent* dst, char* buffer, size_t length) {
  std::size_t aliases = 0;
  while (src.h_aliases && src.h_aliases[aliases]) ++aliases;
  std::size_t addresses = 0;
  while (src.h_addr_list && src.h_addr_list[addresses]) ++addresses;
  const std::size_t addr_len = static_cast<std::size_t>(src.h_length);
  // Pointer arrays first (aligned), then the addresses, then the strings.
  std::uintptr_t base = reinterpret_cast<std::uintptr_t>(buffer);
  std::uintptr_t aligned = (base + alignof(char*) - 1) & ~(std::uintptr_t{alignof(char*)} - 1);
  std::size_t need = (aligned - base) + (aliases + 1 + addresses + 1) * sizeof(char*) +
                     addresses * addr_len + std::strlen(src.h_name ? src.h_name : "") + 1;
  for (std::size_t i = 0; i < aliases; ++i) need += std::strlen(src.h_aliases[i]) + 1;
  if (need > length) return false;
  auto** alias_ptrs = reinterpret_cast<char**>(aligned);
  auto** addr_ptrs = alias_ptrs + aliases + 1;
  char* p = reinterpret_cast<char*>(addr_ptrs + addresses + 1);
  for (std::size_t i = 0; i < addresses; ++i) {
    std::memcpy(p, src.h_addr_list[i], addr_len);
    addr_ptrs[i] = p;
    p += addr_len;
  }
  addr_ptrs[addresses] = nullptr;
  auto put_string = [&p](const char* s) {
    const std::size_t n = std::strlen(s) + 1;
    std::memcpy(p, s, n);
    char* out = p;
    p += n;
    return out;
  };
  for (std::size_t i = 0; i < aliases; ++i) alias_ptrs[i] = put_string(src.h_aliases[i]);
  alias_ptrs[aliases] = nullptr;
  dst->h_name = put_string(src.h_name ? src.h_name : "");
  dst->h_aliases = alias_ptrs;
  dst->h_addrtype = src.h_addrtype;
  dst->h_length = src.h_length;
  dst->h_addr_list = addr_ptrs;
  return true;
}

int host_r(const char* name, std::optional<int> family, hostent* result, char* buffer,
           size_t length, hostent** out, int* h_errnop) {
  const std::string copied(name);
  HostResult r = lookup_pool().apply(lookup_host, copied, family);
  *out = nullptr;
  if (h_errnop) *h_errnop = r.h_error;
  if (!r.found) return r.status;
  if (!pack_hostent(r.entry, result, buffer, length)) {
    if (h_errnop) *h_errnop = NETDB_INTERNAL;
    return ERANGE;
  }
  *out = result;
  return 0;
}

// gethostbyname's static answer, per thread (glibc's is one per process).
hostent* host_static(const char* name, std::optional<int> family) {
  thread_local hostent entry{};
  thread_local std::vector<char> storage;
  const std::string copied(name);
  HostResult r = lookup_pool().apply(lookup_host, copied, family);
  if (!r.found) {
    h_errno = r.h_error != 0 ? r.h_error : HOST_NOT_FOUND;
    return nullptr;
  }
  storage.resize(r.buffer.size() + 64);
  while (!pack_hostent(r.entry, &entry, storage.data(), storage.size())) {
    storage.resize(storage.size() * 2);
  }
  return &entry;
}

}  // namespace
}  // namespace gev::monkey::detail

using gev::monkey::detail::cooperative_hub;
namespace md = gev::monkey::detail;

extern "C" {

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result) {
  if (cooperative_hub() == nullptr || md::is_numeric_host(node) ||
      (hints && (hints->ai_flags & AI_NUMERICHOST)) || result == nullptr) {
    return GEV_REAL(getaddrinfo)(node, service, hints, result);
  }
  std::optional<addrinfo> hints_copy;
  if (hints)
    hints_copy = addrinfo{
        hints->ai_flags, hints->ai_family, hints->ai_socktype, hints->ai_protocol, 0, nullptr,
        nullptr,         nullptr};
  auto lookup = [](std::optional<std::string> n, std::optional<std::string> s,
                   std::optional<addrinfo> h) {
    md::AddrInfoResult r;
    r.status = GEV_REAL(getaddrinfo)(md::c_str(n), md::c_str(s), h ? &*h : nullptr, &r.list);
    r.error = errno;
    return r;
  };
  md::AddrInfoResult r =
      md::lookup_pool().apply(lookup, md::copy(node), md::copy(service), hints_copy);
  *result = std::exchange(r.list, nullptr);
  if (r.status == EAI_SYSTEM) errno = r.error;
  return r.status;
}

int gethostbyname_r(const char* name, hostent* result, char* buffer, size_t length, hostent** out,
                    int* h_errnop) {
  if (cooperative_hub() == nullptr || name == nullptr || md::is_numeric_host(name)) {
    return GEV_REAL(gethostbyname_r)(name, result, buffer, length, out, h_errnop);
  }
  return md::host_r(name, std::nullopt, result, buffer, length, out, h_errnop);
}

int gethostbyname2_r(const char* name, int family, hostent* result, char* buffer, size_t length,
                     hostent** out, int* h_errnop) {
  if (cooperative_hub() == nullptr || name == nullptr || md::is_numeric_host(name)) {
    return GEV_REAL(gethostbyname2_r)(name, family, result, buffer, length, out, h_errnop);
  }
  return md::host_r(name, family, result, buffer, length, out, h_errnop);
}

hostent* gethostbyname(const char* name) {
  if (cooperative_hub() == nullptr || name == nullptr || md::is_numeric_host(name)) {
    return GEV_REAL(gethostbyname)(name);
  }
  return md::host_static(name, std::nullopt);
}

hostent* gethostbyname2(const char* name, int family) {
  if (cooperative_hub() == nullptr || name == nullptr || md::is_numeric_host(name)) {
    return GEV_REAL(gethostbyname2)(name, family);
  }
  return md::host_static(name, family);
}

int getnameinfo(const sockaddr* address, socklen_t length, char* host, socklen_t host_length,
                char* service, socklen_t service_length, int flags) {
  if (cooperative_hub() == nullptr || address == nullptr || length > sizeof(sockaddr_storage) ||
      ((flags & NI_NUMERICHOST) && (flags & NI_NUMERICSERV))) {
    return GEV_REAL(getnameinfo)(address, length, host, host_length, service, service_length,
                                 flags);
  }
  sockaddr_storage copied{};
  std::memcpy(&copied, address, length);
  struct Answer {
    int status = 0;
    int error = 0;
    std::string host, service;
  };
  auto lookup = [](sockaddr_storage a, socklen_t len, socklen_t host_len, socklen_t serv_len,
                   int f) {
    Answer r;
    r.host.resize(host_len);
    r.service.resize(serv_len);
    r.status = GEV_REAL(getnameinfo)(reinterpret_cast<sockaddr*>(&a), len,
                                     host_len ? r.host.data() : nullptr, host_len,
                                     serv_len ? r.service.data() : nullptr, serv_len, f);
    r.error = errno;
    return r;
  };
  Answer r = md::lookup_pool().apply(lookup, copied, length, host ? host_length : 0,
                                     service ? service_length : 0, flags);
  if (r.status == 0) {
    if (host && host_length) std::memcpy(host, r.host.data(), host_length);
    if (service && service_length) std::memcpy(service, r.service.data(), service_length);
  } else if (r.status == EAI_SYSTEM) {
    errno = r.error;
  }
  return r.status;
}

}  // extern "C"
