// net::resolve with both resolvers: selection (set_resolver, GEV_RESOLVER in a child process),
// /etc/hosts names, families and socket types, numeric hosts, and -- for c-ares -- a private
// dnsmasq on 127.0.0.1 (A/AAAA answers, NXDOMAIN, NODATA), a server that never answers, a
// port nobody listens on, Timeout/kill while parked, 200 concurrent lookups, option changes with
// lookups in flight, a forked child, and a channel freed with its thread. Descriptors are back at
// their baseline after every case.
//
// No packet leaves the machine: the c-ares channel always points at a local server here, and
// the "thread" resolver (the system's getaddrinfo, which cannot be pointed anywhere and would
// ask /etc/resolv.conf's servers for anything /etc/hosts lacks) only resolves names /etc/hosts
// has (localhost, AF_INET / AF_UNSPEC).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "net/net_support.hpp"

extern char** environ;

using namespace std::chrono_literals;
using gev::net::Address;
using gev::net::AresOptions;
using gev::net::gaierror;
using gev::net::ResolverKind;
using gev::test::count_fds;
using gev::test::FdBaseline;
using gev::test::wait_until;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";
// What the private dnsmasq knows.
constexpr const char* kDualName = "gev-test.example";        // A 10.1.2.3, AAAA fd00::123
constexpr const char* kV4OnlyName = "v4only.gev-test.test";  // A 10.9.9.9, no AAAA (NODATA)
constexpr const char* kMissingName = "none.gev-test.test";   // NXDOMAIN

bool is_loopback(const Address& a) {
  return a.host() == "127.0.0.1" || a.host() == "::1";
}

bool contains(const std::vector<Address>& v, const Address& a) {
  return std::find(v.begin(), v.end(), a) != v.end();
}

std::string join_addresses(const std::vector<Address>& v) {
  std::string out;
  for (const auto& a : v) {
    if (!out.empty()) out += ' ';
    out += a.to_string();
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A name /etc/hosts gives an IPv4 address, other than localhost (nullopt if there is none).
std::optional<std::string> etc_hosts_ipv4_name() {
  std::ifstream in("/etc/hosts");
  std::string line;
  for (int i = 0; i < 10000 && std::getline(in, line); ++i) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    std::string address, name;
    if (!(fields >> address) || address.find('.') == std::string::npos) continue;
    while (fields >> name) {
      if (name.find("localhost") == std::string::npos) return name;
    }
  }
  return std::nullopt;
}

// The error resolve() threw, if any.
struct Failure {
  bool thrown = false;
  int code = 0;
  std::string what;
};

Failure resolve_failure(const std::string& host, int family = AF_UNSPEC) {
  Failure f;
  try {
    auto addrs = gev::net::resolve(host, 80, family);
    MESSAGE("unexpectedly resolved " << host << ": " << join_addresses(addrs));
  } catch (const gaierror& e) {
    f.thrown = true;
    f.code = e.code();
    f.what = e.what();
  }
  return f;
}

// Restores the resolver choice and the c-ares options on the way out of a test case.
struct ResolverSettings {
  ResolverKind kind = gev::net::current_resolver();
  AresOptions options = gev::net::ares_options();
  ~ResolverSettings() {
    gev::net::set_resolver(kind);
    gev::net::set_ares_options(options);
  }
};

// A free UDP port on 127.0.0.1 (bound, read, released: dnsmasq binds it right after).
std::uint16_t free_udp_port() {
  gev::net::Socket s(AF_INET, SOCK_DGRAM);
  s.bind(Address("127.0.0.1", 0));
  return s.local_address().port();
}

// A UDP socket on 127.0.0.1 that receives queries and never answers.
struct MuteServer {
  gev::net::Socket socket{AF_INET, SOCK_DGRAM};
  std::string address;
  MuteServer() {
    socket.bind(Address("127.0.0.1", 0));
    address = socket.local_address().to_string();
  }
};

// Waits (cooperatively, bounded) for child `pid`; returns its wait status or -1.
int wait_child(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (int i = 0; i < 100000; ++i) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 || Clock::now() > deadline) return -1;
    gev::sleep(5ms);
  }
  return -1;
}

// A private dnsmasq on 127.0.0.1:<free port>, killed (and reaped) by the destructor.
class Dnsmasq {
 public:
  Dnsmasq() {
    char log_template[] = "/tmp/gev-dnsmasq-XXXXXX";
    const int fd = ::mkstemp(log_template);
    REQUIRE(fd >= 0);
    ::close(fd);
    log_path_ = log_template;
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
      port_ = free_udp_port();
      start();
      if (!wait_ready()) stop();
    }
    if (pid_ < 0) FAIL("dnsmasq did not start; its log:\n" << read_file(log_path_));
  }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;
  ~Dnsmasq() {
    stop();
    ::unlink(log_path_.c_str());
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return read_file(log_path_); }
  // Points c-ares at this server alone, with timeouts that forgive a slow turn of a busy
  // machine (one lost packet costs a second), keeping the other options.
  void use() const {
    AresOptions options = gev::net::ares_options();
    options.servers = address();
    options.timeout = 1000ms;
    options.tries = 3;
    gev::net::set_ares_options(options);
  }

  static bool available() { return ::access(kDnsmasq, X_OK) == 0; }

 private:
  void start() {
    // dnsmasq started by root drops to "nobody" unless told otherwise; as anybody else it may
    // only "change" to itself. Either way: stay who we are.
    const passwd* pw = ::getpwuid(::geteuid());
    const group* gr = ::getgrgid(::getegid());
    std::vector<std::string> args = {
        kDnsmasq,
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--port=" + std::to_string(port_),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--pid-file=",
        "--log-facility=-",
        "--log-queries",
        "--user=" + std::string(pw ? pw->pw_name : "root"),
        "--group=" + std::string(gr ? gr->gr_name : "root"),
        std::string("--address=/") + kDualName + "/10.1.2.3",
        std::string("--address=/") + kDualName + "/fd00::123",
        "--local=/gev-test.test/",
        std::string("--host-record=") + kV4OnlyName + ",10.9.9.9",
    };
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log_path = log_path_;
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {                        // only async-signal-safe calls from here to exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      if (::getppid() != parent) ::_exit(127);
      const int log = ::open(log_path.c_str(), O_WRONLY | O_APPEND);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      ::execve(kDnsmasq, argv.data(), environ);
      ::_exit(127);
    }
    pid_ = pid;
  }

  // True once dnsmasq answers a query (bounded: about 5 s); false if it exited or never did.
  bool wait_ready() {
    ResolverSettings restore;
    AresOptions options = gev::net::ares_options();
    options.servers = address();
    options.timeout = 100ms;
    options.tries = 1;
    gev::net::set_ares_options(options);
    gev::net::set_resolver(ResolverKind::ares);
    bool ready = false;
    for (int i = 0; i < 50 && !ready; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // it exited (port taken?)
        pid_ = -1;
        break;
      }
      try {
        ready = !gev::net::resolve(kDualName, 0, AF_INET).empty();
      } catch (const gaierror&) {
        gev::sleep(50ms);
      }
    }
    return ready;
  }

  void stop() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGTERM);
    if (wait_child(pid_, 5s) == -1) {
      ::kill(pid_, SIGKILL);
      (void)wait_child(pid_, 5s);
    }
    pid_ = -1;
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string log_path_;
};

// Runs this test binary's test case `name` in a child process with `env` added to the
// environment; returns {exit status (-1 if it did not end within the limit), its output}.
std::pair<int, std::string> run_child_case(const std::string& name,
                                           const std::vector<std::string>& env) {
  char log_template[] = "/tmp/gev-resolver-child-XXXXXX";
  const int log = ::mkstemp(log_template);
  REQUIRE(log >= 0);
  std::vector<std::string> args = {"/proc/self/exe", "--test-case=" + name, "--no-version=true"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings(env);
  env_strings.emplace_back("GEV_RESOLVER_TEST_CHILD=1");
  for (char** e = environ; *e; ++e) {
    if (std::string_view(*e).starts_with("GEV_RESOLVER=")) continue;
    env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, log, 1);
  posix_spawn_file_actions_adddup2(&actions, log, 2);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(log);
  int status = -1;
  if (rc == 0) {
    status = wait_child(pid, 120s);
    if (status == -1) {
      ::kill(pid, SIGKILL);
      (void)wait_child(pid, 5s);
    }
  }
  std::string output = read_file(log_template);
  ::unlink(log_template);
  return {status, output};
}

bool in_child() {
  return std::getenv("GEV_RESOLVER_TEST_CHILD") != nullptr;
}

}  // namespace

// ---- selection ---------------------------------------------------------------------------------

TEST_CASE("resolver: selection in code, names and parsing") {
  if (in_child()) return;
  ResolverSettings restore;
  CHECK(gev::net::resolver_name(ResolverKind::thread) == "thread");
  CHECK(gev::net::resolver_name(ResolverKind::ares) == "ares");
  CHECK(gev::net::parse_resolver("thread") == ResolverKind::thread);
  CHECK(gev::net::parse_resolver("ares") == ResolverKind::ares);
  CHECK_FALSE(gev::net::parse_resolver("dnspython").has_value());
  CHECK_FALSE(gev::net::parse_resolver("").has_value());
  if (std::getenv("GEV_RESOLVER") == nullptr) {
    CHECK(gev::net::current_resolver() == ResolverKind::thread);  // the default
  }
  gev::net::set_resolver(ResolverKind::ares);
  CHECK(gev::net::current_resolver() == ResolverKind::ares);
  gev::net::set_resolver(ResolverKind::thread);
  CHECK(gev::net::current_resolver() == ResolverKind::thread);
}

// The child halves of the GEV_RESOLVER test below: they do something only in a child process
// started with GEV_RESOLVER_TEST_CHILD set.
TEST_CASE("resolver env child bogus") {
  if (!in_child()) return;
  CHECK_THROWS_WITH_AS((void)gev::net::current_resolver(), doctest::Contains("bogus"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS((void)gev::net::resolve("localhost", 80), doctest::Contains("GEV_RESOLVER"),
                       std::invalid_argument);
  // Numeric hosts need no resolver, so a bad setting does not get in their way.
  CHECK(gev::net::resolve("127.0.0.1", 80).at(0) == Address("127.0.0.1", 80));
  // A choice made in code overrides the environment.
  gev::net::set_resolver(ResolverKind::thread);
  CHECK(gev::net::current_resolver() == ResolverKind::thread);
  CHECK_FALSE(gev::net::resolve("localhost", 80, AF_INET).empty());
}

TEST_CASE("resolver env child ares") {
  if (!in_child()) return;
  REQUIRE(gev::net::current_resolver() == ResolverKind::ares);
  MuteServer mute;  // nothing but /etc/hosts may answer
  gev::net::set_ares_servers(mute.address);
  auto addrs = gev::net::resolve("localhost", 80, AF_INET);
  REQUIRE(addrs.size() == 1);
  CHECK(addrs[0] == Address("127.0.0.1", 80));
}

TEST_CASE("resolver env child thread") {
  if (!in_child()) return;
  CHECK(gev::net::current_resolver() == ResolverKind::thread);
}

TEST_CASE("resolver: GEV_RESOLVER is read from the environment") {
  if (in_child()) return;
  struct Case {
    const char* child;
    const char* value;
  };
  for (const Case& c : {Case{"resolver env child bogus", "GEV_RESOLVER=bogus"},
                        Case{"resolver env child ares", "GEV_RESOLVER=ares"},
                        Case{"resolver env child thread", "GEV_RESOLVER=thread"},
                        Case{"resolver env child thread", "GEV_RESOLVER="}}) {
    CAPTURE(c.value);
    auto [status, output] = run_child_case(c.child, {c.value});
    CHECK(status != -1);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    if (!(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)) MESSAGE(output);
    CHECK(output.find("1 passed") != std::string::npos);  // the child case ran, in the child
  }
}

// ---- /etc/hosts names and numeric hosts, both resolvers -------------------------------------

TEST_CASE("resolver: localhost with both resolvers, families and socket types") {
  if (in_child()) return;
  ResolverSettings restore;
  MuteServer mute;  // c-ares may ask nobody else; /etc/hosts must answer
  AresOptions options;
  options.servers = mute.address;
  options.timeout = 2000ms;
  options.tries = 1;
  gev::net::set_ares_options(options);
  for (ResolverKind kind : {ResolverKind::thread, ResolverKind::ares}) {
    CAPTURE(gev::net::resolver_name(kind));
    gev::net::set_resolver(kind);
    (void)gev::net::resolve("localhost", 1, AF_INET);  // warm the pool / channel
    FdBaseline fds;
    {
      const auto start = Clock::now();
      auto any = gev::net::resolve("localhost", 80);
      REQUIRE_FALSE(any.empty());
      for (const auto& a : any) {
        CAPTURE(a.to_string());
        CHECK(is_loopback(a));
        CHECK(a.port() == 80);
      }
      auto v4 = gev::net::resolve("localhost", 8080, AF_INET);
      REQUIRE(v4.size() == 1);
      CHECK(v4[0] == Address("127.0.0.1", 8080));
      auto dgram = gev::net::resolve("localhost", 53, AF_INET, SOCK_DGRAM);
      REQUIRE(dgram.size() == 1);
      CHECK(dgram[0] == Address("127.0.0.1", 53));
      if (kind == ResolverKind::ares) {
        // c-ares answers localhost itself for a family /etc/hosts lacks (RFC 6761), without
        // asking a server. (The thread resolver would ask /etc/resolv.conf's: not tested.)
        CHECK(gev::net::resolve("localhost", 443, AF_INET6) == std::vector{Address("::1", 443)});
        // So are names under .localhost, and localhost when /etc/hosts is not to be read.
        CHECK(gev::net::resolve("gev.localhost", 7, AF_INET) ==
              std::vector{Address("127.0.0.1", 7)});
        CHECK(gev::net::resolve("gev.localhost", 7) ==
              (std::vector{Address("::1", 7), Address("127.0.0.1", 7)}));
        AresOptions no_hosts = options;
        no_hosts.hosts_file = false;
        gev::net::set_ares_options(no_hosts);
        CHECK(gev::net::resolve("localhost", 9, AF_INET) == std::vector{Address("127.0.0.1", 9)});
        gev::net::set_ares_options(options);
      }
      // Nothing waited for a server that never answers.
      CHECK(Clock::now() - start < 1500ms);
    }
    fds.check();
  }
}

TEST_CASE("resolver: numeric hosts never reach a resolver") {
  if (in_child()) return;
  ResolverSettings restore;
  MuteServer mute;
  AresOptions options;
  options.servers = mute.address;
  options.timeout = 5000ms;
  options.hosts_file = false;
  gev::net::set_ares_options(options);
  for (ResolverKind kind : {ResolverKind::thread, ResolverKind::ares}) {
    CAPTURE(gev::net::resolver_name(kind));
    gev::net::set_resolver(kind);
    FdBaseline fds;
    {
      const auto start = Clock::now();
      CHECK(gev::net::resolve("10.0.0.1", 443) == std::vector{Address("10.0.0.1", 443)});
      CHECK(gev::net::resolve("::1", 80, AF_INET6) == std::vector{Address("::1", 80)});
      CHECK(gev::net::resolve("[fd00::1]", 80) == std::vector{Address("fd00::1", 80)});
      CHECK_THROWS_AS((void)gev::net::resolve("::1", 80, AF_INET), gaierror);
      CHECK(Clock::now() - start < 1s);  // the mute server was never asked
    }
    fds.check();
  }
}

// ---- c-ares against a private DNS server ------------------------------------------------------

TEST_CASE("resolver: ares gets A and AAAA answers from a local server") {
  if (in_child()) return;
  if (!Dnsmasq::available()) {
    MESSAGE("no " << kDnsmasq << ": skipped");
    return;
  }
  ResolverSettings restore;
  Dnsmasq dns;
  dns.use();
  gev::net::set_resolver(ResolverKind::ares);
  FdBaseline fds;
  {
    const Address v4("10.1.2.3", 443);
    const Address v6("fd00::123", 443);
    auto a = gev::net::resolve(kDualName, 443, AF_INET);
    CHECK(a == std::vector{v4});
    auto aaaa = gev::net::resolve(kDualName, 443, AF_INET6);
    CHECK(aaaa == std::vector{v6});
    auto both = gev::net::resolve(kDualName, 443);
    CAPTURE(join_addresses(both));
    CHECK(both.size() == 2);
    CHECK(contains(both, v4));
    CHECK(contains(both, v6));
    auto dgram = gev::net::resolve(kDualName, 53, AF_INET, SOCK_DGRAM);
    CHECK(dgram == std::vector{Address("10.1.2.3", 53)});
    // A name with an A record only.
    CHECK(gev::net::resolve(kV4OnlyName, 80, AF_INET) == std::vector{Address("10.9.9.9", 80)});
    CHECK(gev::net::resolve(kV4OnlyName, 80) == std::vector{Address("10.9.9.9", 80)});
    // /etc/hosts first: localhost is not asked of the server.
    CHECK(gev::net::resolve("localhost", 80, AF_INET) == std::vector{Address("127.0.0.1", 80)});
    // (dnsmasq writes its log asynchronously: a later query shows when it caught up)
    (void)gev::net::resolve("marker.gev-test.example", 80, AF_INET);
    CHECK(wait_until(
        [&] { return dns.log().find("query[A] marker.gev-test.example") != std::string::npos; },
        2s));
    CHECK(dns.log().find("query[A] localhost") == std::string::npos);
  }
  fds.check();
}

TEST_CASE("resolver: ares errors name the host and map to EAI codes") {
  if (in_child()) return;
  if (!Dnsmasq::available()) return;
  ResolverSettings restore;
  Dnsmasq dns;
  dns.use();
  gev::net::set_resolver(ResolverKind::ares);
  FdBaseline fds;
  {
    Failure nx = resolve_failure(kMissingName);
    REQUIRE(nx.thrown);
    MESSAGE("NXDOMAIN: " << nx.what);
    CHECK(nx.code == EAI_NONAME);
    CHECK(nx.what.find(kMissingName) != std::string::npos);
    CHECK(nx.what.find("c-ares") != std::string::npos);

    Failure nodata = resolve_failure(kV4OnlyName, AF_INET6);
    REQUIRE(nodata.thrown);
    MESSAGE("NODATA: " << nodata.what);
#ifdef EAI_NODATA
    CHECK(nodata.code == EAI_NODATA);
#endif
    CHECK(nodata.what.find(kV4OnlyName) != std::string::npos);

    // hosts_file = false: DNS only, so a name of /etc/hosts goes to the server (which knows
    // nothing of it). (Not localhost: c-ares 1.18 does not ask a server for it.)
    if (auto name = etc_hosts_ipv4_name()) {
      CAPTURE(*name);
      CHECK_FALSE(gev::net::resolve(*name, 80, AF_INET).empty());
      AresOptions options = gev::net::ares_options();
      options.hosts_file = false;
      gev::net::set_ares_options(options);
      Failure no_hosts = resolve_failure(*name, AF_INET);
      CHECK(no_hosts.thrown);
      MESSAGE("DNS only: " << no_hosts.what);
      // (dnsmasq writes its log asynchronously)
      CHECK(
          wait_until([&] { return dns.log().find("query[A] " + *name) != std::string::npos; }, 2s));
    } else {
      MESSAGE("no name but localhost in /etc/hosts: hosts_file = false not checked");
    }
  }
  fds.check();
}

TEST_CASE("resolver: ares gives up on a server that never answers, in bounded time") {
  if (in_child()) return;
  ResolverSettings restore;
  MuteServer mute;
  AresOptions options;
  options.servers = mute.address;
  options.timeout = 100ms;
  options.tries = 2;  // 100 ms, then 200 ms
  gev::net::set_ares_options(options);
  gev::net::set_resolver(ResolverKind::ares);
  FdBaseline fds;
  {
    const auto start = Clock::now();
    Failure f = resolve_failure("nobody-answers.gev-test.example");
    const auto took = Clock::now() - start;
    REQUIRE(f.thrown);
    MESSAGE("timeout: " << f.what << " after "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                        << " ms");
    CHECK(f.code == EAI_AGAIN);
    CHECK(f.what.find("nobody-answers.gev-test.example") != std::string::npos);
    CHECK(f.what.find(mute.address) != std::string::npos);  // the servers that were asked
    CHECK(took >= 250ms);
    CHECK(took < 5s);
  }
  fds.check();
}

TEST_CASE("resolver: ares against a port nobody listens on fails in bounded time") {
  if (in_child()) return;
  ResolverSettings restore;
  AresOptions options;
  options.servers = "127.0.0.1:" + std::to_string(free_udp_port());  // nobody listens
  options.timeout = 300ms;
  options.tries = 1;
  gev::net::set_ares_options(options);
  gev::net::set_resolver(ResolverKind::ares);
  FdBaseline fds;
  {
    const auto start = Clock::now();
    Failure f = resolve_failure("refused.gev-test.example");
    REQUIRE(f.thrown);
    MESSAGE("nobody listening: " << f.what);  // refused, or a timeout where ICMP is not seen
    CHECK(f.code == EAI_AGAIN);
    CHECK(f.what.find("refused.gev-test.example") != std::string::npos);
    CHECK(Clock::now() - start < 5s);
  }
  fds.check();
}

TEST_CASE("resolver: Timeout or kill while parked in an ares lookup leaves it usable") {
  if (in_child()) return;
  if (!Dnsmasq::available()) return;
  ResolverSettings restore;
  Dnsmasq dns;
  MuteServer mute;
  AresOptions options;
  options.servers = mute.address;
  options.timeout = 800ms;
  options.tries = 1;
  gev::net::set_ares_options(options);
  gev::net::set_resolver(ResolverKind::ares);
  FdBaseline fds;
  {
    // A Timeout in the middle of a lookup.
    const auto start = Clock::now();
    bool timed_out = false;
    try {
      gev::Timeout t{50ms};
      (void)gev::net::resolve("slow-1.gev-test.example", 80);
    } catch (const gev::Timeout&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(Clock::now() - start < 700ms);

    // A kill in the middle of a lookup.
    auto g = gev::spawn([] { (void)gev::net::resolve("slow-2.gev-test.example", 80); });
    CHECK(wait_until([&] { return g->started() && !g->ready(); }, 2s));
    gev::sleep(20ms);
    REQUIRE_FALSE(g->ready());
    g->kill();
    CHECK(g->ready());
    CHECK(g->successful());  // ended by GreenletExit

    // The abandoned lookups neither keep the loop busy...
    CHECK(gev::wait(400ms));
    // ...nor spoil the channel: /etc/hosts still answers on it, and a new lookup still times
    // out properly on its own.
    CHECK(gev::net::resolve("localhost", 80, AF_INET) == std::vector{Address("127.0.0.1", 80)});
    Failure f = resolve_failure("slow-3.gev-test.example", AF_INET);
    CHECK(f.thrown);
    CHECK(f.code == EAI_AGAIN);

    // Another abandoned lookup, then new options while it is in flight: the old channel drains
    // on its own, the new one answers at once.
    auto g2 = gev::spawn([] { (void)gev::net::resolve("slow-4.gev-test.example", 80); });
    gev::sleep(20ms);
    g2->kill();
    dns.use();
    CHECK(gev::net::resolve(kDualName, 80, AF_INET) == std::vector{Address("10.1.2.3", 80)});

    // When every abandoned lookup has timed out, their sockets are closed again.
    CHECK(wait_until([&] { return count_fds() == fds.before; }, 5s));
  }
  fds.check();
}

TEST_CASE("resolver: 200 concurrent ares lookups all succeed") {
  if (in_child()) return;
  if (!Dnsmasq::available()) return;
  ResolverSettings restore;
  Dnsmasq dns;
  dns.use();
  gev::net::set_resolver(ResolverKind::ares);
  FdBaseline fds;
  {
    constexpr int kCount = 200;
    std::vector<std::shared_ptr<gev::Greenlet<bool>>> jobs;
    for (int i = 0; i < kCount; ++i) {
      jobs.push_back(gev::spawn([i]() -> bool {
        const auto port = static_cast<std::uint16_t>(2000 + i);
        const bool dual = i % 4 != 3;
        auto addrs =
            gev::net::resolve(dual ? kDualName : "localhost", port, dual ? AF_UNSPEC : AF_INET);
        if (dual) {
          return addrs.size() == 2 && contains(addrs, Address("10.1.2.3", port)) &&
                 contains(addrs, Address("fd00::123", port));
        }
        return addrs == std::vector{Address("127.0.0.1", port)};
      }));
    }
    gev::joinall(jobs, 30s);
    int ok = 0;
    for (auto& j : jobs) {
      if (j->ready() && j->value().value_or(false)) {
        ++ok;
      } else if (j->exception()) {
        MESSAGE(gev::test::what_of(j->exception()));
      }
    }
    CHECK(ok == kCount);
  }
  fds.check();
}

TEST_CASE("resolver: ares options are validated and kept") {
  if (in_child()) return;
  ResolverSettings restore;
  AresOptions options;
  options.servers = "127.0.0.1:5353,[::1]:53";
  options.timeout = 250ms;
  options.tries = 3;
  options.hosts_file = false;
  gev::net::set_ares_options(options);
  AresOptions got = gev::net::ares_options();
  CHECK(got.servers == options.servers);
  CHECK(got.timeout == 250ms);
  CHECK(got.tries == 3);
  CHECK_FALSE(got.hosts_file);
  gev::net::set_ares_servers("10.0.0.53");
  got = gev::net::ares_options();
  CHECK(got.servers == "10.0.0.53");
  CHECK(got.tries == 3);  // the rest is kept

  CHECK_THROWS_WITH_AS(gev::net::set_ares_servers("not a server list"),
                       doctest::Contains("not a server list"), std::invalid_argument);
  AresOptions bad;
  bad.timeout = -1ms;
  CHECK_THROWS_AS(gev::net::set_ares_options(bad), std::invalid_argument);
  bad = AresOptions{};
  bad.tries = -2;
  CHECK_THROWS_AS(gev::net::set_ares_options(bad), std::invalid_argument);
  CHECK(gev::net::ares_options().servers == "10.0.0.53");  // a rejected call changes nothing
}

TEST_CASE("resolver: a thread's ares channel goes with its hub") {
  if (in_child()) return;
  if (!Dnsmasq::available()) return;
  ResolverSettings restore;
  Dnsmasq dns;
  MuteServer mute;
  AresOptions options;
  options.servers = dns.address() + "," + mute.address;  // one answers, one never does
  options.timeout = 3000ms;
  options.tries = 1;
  gev::net::set_ares_options(options);
  gev::net::set_resolver(ResolverKind::ares);
  FdBaseline fds;
  {
    bool resolved = false;
    bool abandoned = false;
    std::thread t([&] {
      // The thread's own hub and channel.
      resolved = gev::net::resolve(kDualName, 80, AF_INET) == std::vector{Address("10.1.2.3", 80)};
      // A lookup still in flight when the thread ends: the mute server comes first now.
      gev::net::set_ares_servers(mute.address);
      auto g = gev::spawn([&] {
        try {
          (void)gev::net::resolve("pending-at-exit.gev-test.example", 80);
        } catch (...) {
          abandoned = true;  // GreenletExit from the hub's teardown
          throw;
        }
      });
      gev::sleep(30ms);
      // Returning ends the thread: ~Hub unwinds g, then destroys the channel and its socket.
    });
    t.join();
    CHECK(resolved);
    CHECK(abandoned);
  }
  fds.check();  // the thread's loop and c-ares sockets are gone; LeakSanitizer checks memory
}

TEST_CASE("resolver: ares works in a forked child and in the parent afterwards") {
  if (in_child()) return;
  if (!Dnsmasq::available()) return;
  ResolverSettings restore;
  Dnsmasq dns;
  dns.use();
  gev::net::set_resolver(ResolverKind::ares);
  const std::vector expected{Address("10.1.2.3", 80)};
  REQUIRE(gev::net::resolve(kDualName, 80, AF_INET) == expected);  // the channel exists
  auto r = gev::test::run_in_child(
      [&] {
        // The child gets a channel of its own (the parent's sockets are not shared).
        try {
          return gev::net::resolve(kDualName, 80, AF_INET) == expected ? 0 : 1;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "child: %s\n", e.what());
          return 2;
        }
      },
      {}, std::chrono::seconds(30));
  CHECK_MESSAGE(r.exited(), "child died: status " << r.status << ", output: " << r.output);
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with " << r.exit_code() << ": " << r.output);
  CHECK(gev::net::resolve(kDualName, 80, AF_INET) == expected);
}

namespace {
// The NXDOMAIN answer to a DNS query (its header and question echoed back).
std::string nxdomain_reply(const char* query, std::size_t n) {
  std::string reply(query, n);
  reply[2] = static_cast<char>(reply[2] | 0x80);           // QR: a response
  reply[3] = static_cast<char>((reply[3] & 0xF0) | 0x83);  // RA, RCODE 3 (NXDOMAIN)
  return reply;
}
}  // namespace

TEST_CASE("resolver: a forked child drops the inherited channel and never reads its replies") {
  if (in_child()) return;
  if (!Dnsmasq::available()) return;
  ResolverSettings restore;
  Dnsmasq dns;
  MuteServer mute;  // the parent's lookup goes here, and this test answers it by hand
  AresOptions options;
  options.servers = mute.address;
  options.timeout = 5000ms;
  options.tries = 1;
  gev::net::set_ares_options(options);
  gev::net::set_resolver(ResolverKind::ares);
  const std::vector expected{Address("10.1.2.3", 80)};
  Failure result;
  bool done = false;
  auto pending = gev::spawn([&] {
    result = resolve_failure("inflight.gev-test.example", AF_INET);
    done = true;
  });
  char query[512];
  Address asker;
  mute.socket.settimeout(5s);
  const std::size_t n = mute.socket.recvfrom(query, sizeof query, asker);  // in flight now
  REQUIRE(n >= 12);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int code = 0;
    try {
      gev::sleep(300ms);  // the parent's reply arrives meanwhile: not for the child
      // The inherited lookup ended at the fork (its channel was dropped), not with a reply.
      if (!pending->join(2s)) {
        code = 3;
      } else if (!done || result.code != EAI_AGAIN) {
        std::fprintf(stderr, "child: inherited lookup: %s\n", result.what.c_str());
        code = 4;
      } else {
        dns.use();  // a fresh channel in the child
        if (gev::net::resolve(kDualName, 80, AF_INET) != expected) code = 5;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 6;
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  // The parent answers its query (and any the search list adds) while the child's loop runs.
  std::string reply = nxdomain_reply(query, n);
  mute.socket.sendto(reply.data(), reply.size(), asker);
  auto answerer = gev::spawn([&] {
    char q[512];
    Address from;
    mute.socket.settimeout(50ms);
    while (!done) {
      try {
        const std::size_t m = mute.socket.recvfrom(q, sizeof q, from);
        if (m < 12) continue;
        std::string r = nxdomain_reply(q, m);
        mute.socket.sendto(r.data(), r.size(), from);
      } catch (const std::system_error&) {
      }
    }
  });
  REQUIRE(pending->join(4s));  // the reply reached the parent (well before the 5 s timeout)
  CHECK(result.thrown);
  CHECK_MESSAGE(result.code == EAI_NONAME, result.what);
  REQUIRE(answerer->join(5s));
  const int status = wait_child(pid, 30000ms);
  CHECK_MESSAGE(WIFEXITED(status), "child status " << status);
  CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child exit " << WEXITSTATUS(status));
  dns.use();
  CHECK(gev::net::resolve(kDualName, 80, AF_INET) == expected);  // the parent still resolves
}
