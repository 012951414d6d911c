// gev::monkey with an unmodified blocking C library: libcurl's easy API. After patch_all(),
// curl_easy_perform in a greenlet parks only that greenlet (its connect, poll, recv and send
// go through the hooks), so 50 downloads from a server that answers after 200 ms take about
// 200 ms in all, over HTTP and over verified HTTPS, while another greenlet keeps ticking.
// Errors stay libcurl's errors: a refused connection, a certificate from the wrong CA, a
// server that never answers (CURLOPT_TIMEOUT_MS). On a thread without a hub the hooks pass
// through and the same code blocks its thread as usual.
//
// The server is tests/monkey/delay_server.py, a separate process (always killed and reaped).
// Nothing leaves 127.0.0.1: URLs are numeric loopback addresses and proxies are turned off.
// Every transfer is bounded by CURLOPT_TIMEOUT_MS and every wait by a deadline.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gev/monkey/monkey.hpp>

#include "monkey/monkey_support.hpp"
#include "net/net_support.hpp"
#include "net/ssl_support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using gev::test::FdBaseline;
using gev::test::seconds_since;
using gev::test::Ticker;

namespace {

// curl_global_init once per process (it is not thread-safe), curl_global_cleanup at exit.
struct CurlGlobal {
  CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  ~CurlGlobal() {
    if (code == CURLE_OK) curl_global_cleanup();
  }
};

void init_curl() {
  static CurlGlobal global;
  REQUIRE(global.code == CURLE_OK);
}

// Each test case starts with patch_all() (idempotent) and libcurl initialised.
struct Patched {
  Patched() {
    gev::monkey::patch_all();
    init_curl();
  }
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// GEV_TEST_SOURCE_DIR is set by CTest; a direct run finds the script beside this file.
std::string delay_server_script() {
  std::string here = __FILE__;
  here.erase(here.find_last_of('/') + 1);
  const char* root = std::getenv("GEV_TEST_SOURCE_DIR");
  return root != nullptr && *root != '\0' ? std::string(root) + "/tests/monkey/delay_server.py"
                                          : here + "delay_server.py";
}

// tests/monkey/delay_server.py in a child process that is killed and reaped on destruction.
struct DelayServer {
  std::unique_ptr<gev::test::ChildProcess> process;
  int port = 0;
  bool https = false;

  std::string url(const std::string& path) const {
    return (https ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port) + path;
  }
};

// Starts the server with `args` and waits (bounded) for the port it prints on its first line.
DelayServer start_delay_server(const std::vector<std::string>& args, bool https = false) {
  const char* system_python = "/usr/bin/python3";
  std::vector<std::string> argv = {
      env_or("PYTHON", ::access(system_python, X_OK) == 0 ? system_python : "python3"),
      delay_server_script()};
  argv.insert(argv.end(), args.begin(), args.end());
  DelayServer server;
  server.https = https;
  server.process = std::make_unique<gev::test::ChildProcess>(argv);
  REQUIRE_MESSAGE(server.process->started(), "cannot start " << argv[1]);
  const bool printed = server.process->wait_for_output("\n", 10s, [] { ::usleep(5000); });
  const std::string& out = server.process->output();
  REQUIRE_MESSAGE(printed, "delay_server.py printed no port: " << out);
  server.port = std::atoi(out.c_str());
  REQUIRE_MESSAGE(server.port > 0, "delay_server.py: " << out);
  return server;
}

std::string expected_body(const std::string& path) {
  return "gev delay_server: " + path + "\n";
}

struct Options {
  std::string ca_file;      // CURLOPT_CAINFO (and no CA directory) when not empty
  long timeout_ms = 10000;  // CURLOPT_TIMEOUT_MS: every transfer is bounded
};

struct Result {
  CURLcode code = CURLE_FAILED_INIT;
  long status = 0;
  std::string body;
  std::string error;  // CURLOPT_ERRORBUFFER
  double seconds = 0;
};

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Plain libcurl easy-API code, as any C or C++ program would have it: nothing of gev in here.
Result download(const std::string& url, const Options& options = {}) {
  Result r;
  const auto start = Clock::now();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  REQUIRE(curl != nullptr);
  char error[CURL_ERROR_SIZE] = {};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROXY, "");     // no proxy, whatever the environment says
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");  // (both, to be sure)
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, options.timeout_ms);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);  // trust this file only
  }
  r.code = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  r.error = error;
  r.seconds = seconds_since(start);
  return r;
}

// A TCP listener on 127.0.0.1 that nobody ever accepts from: connections complete (the kernel
// does the handshake into the backlog) but no byte ever comes back.
struct SilentListener {
  int fd = -1;
  int port = 0;
  SilentListener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 64) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  ~SilentListener() { ::close(fd); }
};

// N downloads of `server` at once, one greenlet each; checks every body. Returns the wall time.
double concurrent_downloads(const DelayServer& server, int n, const Options& options) {
  std::vector<Result> results(static_cast<size_t>(n));
  gev::GreenletList greenlets;
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    greenlets.push_back(gev::spawn([&, i] {
      results[static_cast<size_t>(i)] = download(server.url("/item-" + std::to_string(i)), options);
    }));
  }
  const auto finished = gev::joinall(greenlets, 30s);
  const double took = seconds_since(start);
  CHECK(finished.size() == static_cast<size_t>(n));
  gev::killall(greenlets);  // only if the bound above was hit
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    const Result& r = results[static_cast<size_t>(i)];
    INFO("download " << i << ": " << curl_easy_strerror(r.code) << " " << r.error);
    CHECK(r.code == CURLE_OK);
    CHECK(r.status == 200);
    CHECK(r.body == expected_body("/item-" + std::to_string(i)));
    if (r.code == CURLE_OK && r.status == 200) ++ok;
  }
  CHECK(ok == n);
  return took;
}

}  // namespace

TEST_CASE("50 greenlets each run curl_easy_perform over HTTP; the delays overlap") {
  Patched patched;
  DelayServer server = start_delay_server({"--delay", "0.2"});
  FdBaseline fds;
  {
    Ticker ticker;
    const double took = concurrent_downloads(server, 50, {});
    CHECK(took >= 0.19);       // the server really waited
    CHECK(took < 2.0);         // one after another: 50 x 200 ms = 10 s
    CHECK(ticker.ticks > 10);  // about 100 turns of 2 ms; one or two if curl blocked
    MESSAGE("50 curl downloads with a 200 ms server delay took " << took << " s, ticker "
                                                                 << ticker.ticks);
  }
  fds.check();  // every connection closed by curl_easy_cleanup
}

TEST_CASE("50 greenlets each run curl_easy_perform over verified HTTPS") {
  Patched patched;
  const gev::test::TestPki& pki = gev::test::test_pki();  // a throwaway CA and certificates
  REQUIRE_MESSAGE(pki.error.empty(), pki.error);
  DelayServer server = start_delay_server(
      {"--delay", "0.2", "--cert", pki.server_cert, "--key", pki.server_key}, true);

  SUBCASE("the test CA: every download succeeds, concurrently") {
    Ticker ticker;
    const double took = concurrent_downloads(server, 50, {.ca_file = pki.ca});
    CHECK(took >= 0.19);
    CHECK(took < 2.0);
    CHECK(ticker.ticks > 10);
    MESSAGE("50 curl HTTPS downloads with a 200 ms server delay took " << took << " s");
  }
  SUBCASE("a CA that did not sign the server: CURLE_PEER_FAILED_VERIFICATION, no hang") {
    Ticker ticker;
    Result bad;
    Result good;
    auto a =
        gev::spawn([&] { bad = download(server.url("/bad"), {.ca_file = pki.self_signed_cert}); });
    auto b = gev::spawn([&] { good = download(server.url("/good"), {.ca_file = pki.ca}); });
    gev::joinall({a, b}, 20s);
    INFO("bad: " << curl_easy_strerror(bad.code) << " " << bad.error);
    CHECK(bad.code == CURLE_PEER_FAILED_VERIFICATION);
    CHECK(bad.error.find("certificate") != std::string::npos);
    CHECK(bad.body.empty());
    CHECK(bad.seconds < 5.0);
    INFO("good: " << curl_easy_strerror(good.code) << " " << good.error);
    CHECK(good.code == CURLE_OK);  // the other greenlet's transfer was not disturbed
    CHECK(good.body == expected_body("/good"));
  }
  SUBCASE("verification by name: https://localhost/ resolves to loopback and matches") {
    Result r;
    auto g = gev::spawn([&] {
      std::string url = server.url("/by-name");
      url.replace(url.find("127.0.0.1"), 9, "localhost");
      r = download(url, {.ca_file = pki.ca});
    });
    g->join(20s);
    INFO(curl_easy_strerror(r.code) << " " << r.error);
    CHECK(r.code == CURLE_OK);
    CHECK(r.body == expected_body("/by-name"));
  }
}

TEST_CASE("connection refused: CURLE_COULDNT_CONNECT at once") {
  Patched patched;
  const int port = gev::test::free_port();  // bound a moment ago, closed: nobody listens
  REQUIRE(port > 0);
  FdBaseline fds;
  {
    std::vector<Result> results(10);
    gev::GreenletList greenlets;
    for (auto& r : results) {
      greenlets.push_back(gev::spawn(
          [&r, port] { r = download("http://127.0.0.1:" + std::to_string(port) + "/"); }));
    }
    const auto start = Clock::now();
    CHECK(gev::joinall(greenlets, 20s).size() == results.size());
    const double took = seconds_since(start);
    for (const Result& r : results) {
      INFO(curl_easy_strerror(r.code) << " " << r.error);
      CHECK(r.code == CURLE_COULDNT_CONNECT);
      CHECK(r.status == 0);
    }
    CHECK(took < 5.0);  // not the 10 s CURLOPT_TIMEOUT_MS: the refusal itself
  }
  fds.check();
}

TEST_CASE("a server that never answers: CURLOPT_TIMEOUT_MS ends each transfer, concurrently") {
  Patched patched;
  FdBaseline fds;
  {
    SilentListener silent;
    Ticker ticker;
    std::vector<Result> results(10);
    gev::GreenletList greenlets;
    const std::string url = "http://127.0.0.1:" + std::to_string(silent.port) + "/never";
    const auto start = Clock::now();
    for (auto& r : results) {
      greenlets.push_back(
          gev::spawn([&r, &url] { r = download(url, {.ca_file = "", .timeout_ms = 300}); }));
    }
    CHECK(gev::joinall(greenlets, 20s).size() == results.size());
    const double took = seconds_since(start);
    for (const Result& r : results) {
      INFO(curl_easy_strerror(r.code) << " " << r.error);
      CHECK(r.code == CURLE_OPERATION_TIMEDOUT);
      CHECK(r.seconds >= 0.29);
    }
    CHECK(took < 2.0);  // one after another: 10 x 300 ms = 3 s
    CHECK(ticker.ticks > 10);
    MESSAGE("10 curl transfers timed out (300 ms) in " << took << " s, ticker " << ticker.ticks);
  }
  fds.check();
}

TEST_CASE("a greenlet killed inside curl_easy_perform unwinds; its handle can be cleaned up") {
  Patched patched;
  FdBaseline fds;
  {
    SilentListener silent;
    const std::string url = "http://127.0.0.1:" + std::to_string(silent.port) + "/never";
    bool cleaned_up = false;
    Result r;
    auto g = gev::spawn([&] {
      struct Mark {
        bool& flag;
        ~Mark() { flag = true; }
      } mark{cleaned_up};
      r = download(url,
                   {.ca_file = "", .timeout_ms = 10000});  // its unique_ptr runs curl_easy_cleanup
    });
    gev::sleep(200ms);  // connected, waiting for the answer inside libcurl's poll
    CHECK_FALSE(g->ready());
    const auto start = Clock::now();
    CHECK(g->kill({.timeout = 5s}));
    CHECK(seconds_since(start) < 3.0);  // at once, not after curl's 10 s timeout
    CHECK(g->dead());
    CHECK(g->successful());  // GreenletExit counts as success
    CHECK(cleaned_up);
    CHECK(r.code == CURLE_FAILED_INIT);  // download() never returned

    // A Timeout aimed at the greenlet that runs curl: thrown out of curl_easy_perform.
    bool timed_out = false;
    const auto t0 = Clock::now();
    try {
      gev::Timeout timeout{200ms};
      r = download(url, {.ca_file = "", .timeout_ms = 10000});
    } catch (const gev::Timeout&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(seconds_since(t0) < 3.0);
  }
  fds.check();  // both easy handles closed their connection
}

TEST_CASE("on a std::thread without a hub, the same download code blocks its thread as usual") {
  Patched patched;
  DelayServer server = start_delay_server({"--delay", "0.05"});
  Result results[2];
  bool had_hub[2] = {true, true};
  std::atomic<int> done{0};
  auto work = [&](int i) {
    had_hub[i] = gev::Hub::current_if_exists() != nullptr;
    results[i] = download(server.url("/thread-" + std::to_string(i)));
    had_hub[i] = had_hub[i] || gev::Hub::current_if_exists() != nullptr;  // no hook made one
    ++done;
  };
  std::thread t0(work, 0);
  std::thread t1(work, 1);
  // Wait cooperatively (bounded) so the main greenlet's hub stays responsive meanwhile.
  const auto deadline = Clock::now() + 20s;
  while (done < 2 && Clock::now() < deadline) gev::sleep(5ms);
  t0.join();  // the transfers themselves are bounded by CURLOPT_TIMEOUT_MS
  t1.join();
  for (int i = 0; i < 2; ++i) {
    INFO("thread " << i << ": " << curl_easy_strerror(results[i].code) << " " << results[i].error);
    CHECK_FALSE(had_hub[i]);
    CHECK(results[i].code == CURLE_OK);
    CHECK(results[i].status == 200);
    CHECK(results[i].body == expected_body("/thread-" + std::to_string(i)));
    CHECK(results[i].seconds >= 0.04);
  }
}
