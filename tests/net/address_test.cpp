// net::Address (IPv4, IPv6, Unix: round trips, printing, comparison, numeric-only hosts) and
// net::resolve (localhost, numeric hosts, families, a name that cannot exist, concurrency).
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/net_support.hpp"

using namespace std::chrono_literals;
using gev::net::Address;
using gev::test::FdBaseline;

static const std::string kUnresolvable = std::string(70, 'a') + ".invalid";

namespace {
bool is_loopback(const Address& a) {
  if (a.family() == AF_INET) return a.host().rfind("127.", 0) == 0;
  if (a.family() == AF_INET6) return a.host() == "::1";
  return false;
}
}  // namespace

TEST_CASE("Address: IPv4 round trip and printing") {
  Address a{"127.0.0.1", 8000};
  CHECK(a.family() == AF_INET);
  CHECK(a.host() == "127.0.0.1");
  CHECK(a.port() == 8000);
  CHECK(a.to_string() == "127.0.0.1:8000");
  CHECK(a.length() == sizeof(sockaddr_in));
  auto* sin = reinterpret_cast<const sockaddr_in*>(a.sockaddr_ptr());
  CHECK(ntohs(sin->sin_port) == 8000);
  CHECK(ntohl(sin->sin_addr.s_addr) == INADDR_LOOPBACK);

  Address b = Address::from_sockaddr(a.sockaddr_ptr(), a.length());
  CHECK(b == a);
  CHECK_FALSE(b == Address("127.0.0.1", 8001));
  CHECK_FALSE(b == Address("127.0.0.2", 8000));

  Address any{"", 80};
  CHECK(any.family() == AF_INET);
  CHECK(any.to_string() == "0.0.0.0:80");
  CHECK(Address("0.0.0.0", 0).port() == 0);
  CHECK(Address("255.255.255.255", 65535).to_string() == "255.255.255.255:65535");
}

TEST_CASE("Address: IPv6 round trip, canonical printing") {
  Address a{"::1", 8000};
  CHECK(a.family() == AF_INET6);
  CHECK(a.host() == "::1");
  CHECK(a.port() == 8000);
  CHECK(a.to_string() == "[::1]:8000");
  CHECK(a.length() == sizeof(sockaddr_in6));
  CHECK(Address::from_sockaddr(a.sockaddr_ptr(), a.length()) == a);
  CHECK(Address("0:0:0:0:0:0:0:1", 1) == Address("::1", 1));
  CHECK(Address("0:0:0:0:0:0:0:1", 1).to_string() == "[::1]:1");
  CHECK(Address("fe80::1:2", 443).to_string() == "[fe80::1:2]:443");
  CHECK_FALSE(Address("::1", 80) == Address("127.0.0.1", 80));
}

TEST_CASE("Address: Unix paths") {
  Address u = Address::unix_path("/tmp/app.sock");
  CHECK(u.family() == AF_UNIX);
  CHECK(u.host() == "/tmp/app.sock");
  CHECK(u.to_string() == "unix:/tmp/app.sock");
  CHECK(Address::from_sockaddr(u.sockaddr_ptr(), u.length()) == u);
  CHECK_FALSE(u == Address::unix_path("/tmp/other.sock"));
  auto* sun = reinterpret_cast<const sockaddr_un*>(u.sockaddr_ptr());
  CHECK(std::string(sun->sun_path) == "/tmp/app.sock");
  // A path that does not fit sun_path is rejected rather than truncated.
  CHECK_THROWS(Address::unix_path(std::string(200, 'p')));
}

TEST_CASE("Address: names are not numeric hosts") {
  CHECK_THROWS_AS(Address("localhost", 80), std::invalid_argument);
  try {
    Address bad{"example.invalid", 80};
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("example.invalid") != std::string::npos);
  }
  CHECK_THROWS_AS(Address("1.2.3", 80), std::invalid_argument);
  // The bracketed IPv6 form is accepted as the same address.
  CHECK(Address("[::1]", 80) == Address("::1", 80));
  CHECK(gev::net::is_numeric_host("127.0.0.1"));
  CHECK(gev::net::is_numeric_host("::1"));
  CHECK(gev::net::is_numeric_host("2001:db8::1"));
  CHECK_FALSE(gev::net::is_numeric_host("localhost"));
  CHECK_FALSE(gev::net::is_numeric_host("1.2.3.4.5"));
  CHECK(gev::net::is_numeric_host(""));  // "" is the IPv4 any address, as for Address

  Address none;
  CHECK(none.family() == AF_UNSPEC);
}

TEST_CASE("resolve: localhost gives loopback addresses with the port") {
  (void)gev::net::resolve("localhost", 1);  // warm the resolver's thread pool
  FdBaseline fds;
  {
    auto addrs = gev::net::resolve("localhost", 80);
    REQUIRE_FALSE(addrs.empty());
    for (const auto& a : addrs) {
      CAPTURE(a.to_string());
      CHECK(is_loopback(a));
      CHECK(a.port() == 80);
    }
    auto v4 = gev::net::resolve("localhost", 8080, AF_INET);
    REQUIRE_FALSE(v4.empty());
    for (const auto& a : v4) {
      CHECK(a.family() == AF_INET);
      CHECK(a.port() == 8080);
    }
    auto dgram = gev::net::resolve("localhost", 53, AF_INET, SOCK_DGRAM);
    REQUIRE_FALSE(dgram.empty());
    CHECK(is_loopback(dgram.front()));
  }
  fds.check();
}

TEST_CASE("resolve: numeric hosts") {
  FdBaseline fds;
  {
    auto v4 = gev::net::resolve("127.0.0.1", 443);
    REQUIRE(v4.size() == 1);
    CHECK(v4[0] == Address("127.0.0.1", 443));
    auto v6 = gev::net::resolve("::1", 80);
    REQUIRE(v6.size() == 1);
    CHECK(v6[0] == Address("::1", 80));
    // A numeric host of the wrong family is an error, as with getaddrinfo.
    CHECK_THROWS_AS((void)gev::net::resolve("::1", 80, AF_INET), gev::net::gaierror);
  }
  fds.check();
}

TEST_CASE("resolve: a name that cannot exist throws gaierror naming it") {
  (void)gev::net::resolve("localhost", 1);
  FdBaseline fds;
  {
    try {
      // A 70-character label is not a valid DNS name: glibc fails it after /etc/hosts without
      // sending a query, so no packet leaves the machine (a plain ".invalid" name would be
      // sent to the system's DNS server).
      (void)gev::net::resolve(kUnresolvable, 80);
      FAIL("no exception");
    } catch (const gev::net::gaierror& e) {
      std::string what = e.what();
      MESSAGE("gaierror: " << what << " (code " << e.code() << ")");
      CHECK(what.find(kUnresolvable) != std::string::npos);
      CHECK(e.code() != 0);
    }
  }
  fds.check();
}

TEST_CASE("resolve: many greenlets resolve concurrently") {
  (void)gev::net::resolve("localhost", 1);
  FdBaseline fds;
  {
    std::vector<std::shared_ptr<gev::Greenlet<bool>>> jobs;
    for (int i = 0; i < 50; ++i) {
      jobs.push_back(gev::spawn([i]() -> bool {
        auto addrs = gev::net::resolve("localhost", static_cast<std::uint16_t>(1000 + i));
        for (const auto& a : addrs) {
          if (!is_loopback(a) || a.port() != 1000 + i) return false;
        }
        return !addrs.empty();
      }));
    }
    gev::joinall(jobs, 30s);
    int ok = 0;
    for (auto& j : jobs) ok += (j->ready() && j->value().value_or(false)) ? 1 : 0;
    CHECK(ok == 50);
  }
  fds.check();
}
