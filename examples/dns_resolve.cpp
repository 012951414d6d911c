// DNS: resolve() with the thread-pool resolver and with c-ares, and a lookup that times out.
#include <gev/gev.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

static void show(const char* host) {
  std::string line;
  for (const auto& a : gev::net::resolve(host, 80, AF_INET)) line += " " + a.to_string();
  std::printf("%-6s %-9s ->%s\n",
              std::string(gev::net::resolver_name(gev::net::current_resolver())).c_str(), host,
              line.c_str());
}

int main() {
  show("127.0.0.1");  // numeric: no resolver involved
  show("localhost");  // thread (the default): getaddrinfo on a pool thread, /etc/hosts applies
  gev::net::set_resolver(gev::net::ResolverKind::ares);  // or GEV_RESOLVER=ares
  show("localhost");                                     // c-ares on the hub's own loop

  // A "DNS server" on loopback that never answers, to show c-ares's timeout and error.
  gev::net::DatagramServer silent{
      {"127.0.0.1", 0},
      [](std::string_view, const gev::net::Address&, gev::net::DatagramServer&) {}};
  silent.start();
  gev::net::AresOptions options;
  options.servers = silent.address().to_string();  // "127.0.0.1:PORT"
  options.timeout = 100ms;                         // per try
  options.tries = 1;
  gev::net::set_ares_options(options);
  try {
    gev::net::resolve("db.example", 5432, AF_INET);
  } catch (const gev::net::gaierror& e) {
    std::printf("%s\ncode %s\n", e.what(), e.code() == EAI_AGAIN ? "EAI_AGAIN" : "other");
  }
  silent.stop();
}
