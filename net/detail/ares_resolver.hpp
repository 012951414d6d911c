// Internal to gev::net (no public header includes it): the c-ares resolver behind resolve().
// ares.h stays out of here, so nothing outside net/ares_resolver.cpp sees c-ares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gev/net/address.hpp"

namespace gev::net::detail {

// resolve() for a non-numeric host with the c-ares channel of the calling thread's hub.
std::vector<Address> ares_resolve(const std::string& host, std::uint16_t port, int family,
                                  int type);

}  // namespace gev::net::detail
