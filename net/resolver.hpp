// Name resolution with getaddrinfo semantics, cooperative: the system resolver
// (/etc/hosts, nsswitch) runs on a thread pool while the calling greenlet parks (gevent's
// default "thread" resolver). Numeric hosts never touch a resolver.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gev/net/address.hpp"

namespace gev::net {

// A getaddrinfo failure: the gai message and the name asked for.
class gaierror : public std::runtime_error {
 public:
  gaierror(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }  // EAI_NONAME, EAI_AGAIN, ...

 private:
  int code_;
};

// Addresses for host:port, in the order getaddrinfo returns them. family: AF_UNSPEC, AF_INET,
// AF_INET6; type: SOCK_STREAM or SOCK_DGRAM. Throws gaierror.
std::vector<Address> resolve(std::string_view host, std::uint16_t port, int family = AF_UNSPEC,
                             int type = SOCK_STREAM);

}  // namespace gev::net
