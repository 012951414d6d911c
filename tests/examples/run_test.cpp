// Runs every example program and checks that it behaves as the seed document describes.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "net/ssl_support.hpp"

namespace {

struct Run {
  int exit_code = -1;
  std::string output;
  double seconds = 0;
};

Run run_example(const std::string& name) {
  const std::string cmd = std::string(GEV_EXAMPLES_DIR) + "/" + name + " 2>&1";
  Run r;
  auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// tests/monkey/delay_server.py: a local HTTP server that answers every GET after `delay`
// seconds and prints "GET <path>" as requests arrive. Killed and reaped on destruction.
struct DelayServer {
  std::unique_ptr<gev::test::ChildProcess> process;
  int port = 0;
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

DelayServer start_delay_server(const std::string& delay) {
  const char* python = std::getenv("PYTHON");
  if (python == nullptr || *python == '\0') {
    python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  }
  DelayServer server;
  server.process = std::make_unique<gev::test::ChildProcess>(std::vector<std::string>{
      python, std::string(GEV_SOURCE_DIR) + "/tests/monkey/delay_server.py", "--delay", delay,
      "--log"});
  REQUIRE(server.process->started());
  const bool printed =
      server.process->wait_for_output("\n", std::chrono::seconds(10), [] { usleep(5000); });
  REQUIRE_MESSAGE(printed, "delay_server.py printed no port: " << server.process->output());
  server.port = std::atoi(server.process->output().c_str());
  REQUIRE_MESSAGE(server.port > 0, "delay_server.py: " << server.process->output());
  return server;
}

// Golden files (examples/expected/NAME.txt) hold exactly what NAME prints on stdout. A golden
// line may contain "{{...}}", which matches any text within that line (a time, a port).
bool line_matches(const std::string& want, const std::string& got) {
  const std::string hole = "{{...}}";
  size_t w = want.find(hole);
  if (w == std::string::npos) return want == got;
  if (got.compare(0, w, want, 0, w) != 0) return false;
  const std::string rest = want.substr(w + hole.size());
  // The hole takes as little as possible, then the rest must match (it may hold holes too).
  for (size_t g = w; g <= got.size(); ++g) {
    if (line_matches(rest, got.substr(g))) return true;
  }
  return false;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The first difference between a golden file and an output, or "" when they agree.
std::string golden_difference(const std::string& want_text, const std::string& got_text) {
  const auto want = split_lines(want_text);
  const auto got = split_lines(got_text);
  for (size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    const std::string w = i < want.size() ? want[i] : "<end of output>";
    const std::string g = i < got.size() ? got[i] : "<end of output>";
    if (i >= want.size() || i >= got.size() || !line_matches(w, g)) {
      return "line " + std::to_string(i + 1) + ": expected \"" + w + "\", got \"" + g + "\"";
    }
  }
  return "";
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("golden matcher: holes match any text within a line, nothing else") {
  CHECK(line_matches("took {{...}} ms", "took 12.5 ms"));
  CHECK(line_matches("{{...}}", ""));
  CHECK(line_matches("a {{...}} b {{...}} c", "a 1 b 2 b 3 c"));
  CHECK_FALSE(line_matches("took {{...}} ms", "took 12.5 s"));
  CHECK_FALSE(line_matches("exact", "exact "));
  CHECK(golden_difference("a\nb\n", "a\nb\n").empty());
  CHECK(golden_difference("a\nb\n", "a\n") == "line 2: expected \"b\", got \"<end of output>\"");
  CHECK_FALSE(golden_difference("a\n", "a\nextra\n").empty());
}

TEST_CASE("examples with a golden file print exactly that and exit 0 (the guide shows them)") {
  namespace fs = std::filesystem;
  const fs::path expected_dir = fs::path(GEV_SOURCE_DIR) / "examples" / "expected";
  std::vector<fs::path> goldens;
  for (const auto& entry : fs::directory_iterator(expected_dir)) {
    if (entry.path().extension() == ".txt") goldens.push_back(entry.path());
  }
  std::sort(goldens.begin(), goldens.end());
  REQUIRE(!goldens.empty());
  for (const fs::path& golden : goldens) {
    const std::string name = golden.stem().string();
    // stdout only: stderr is unbuffered and would interleave differently from run to run.
    const std::string cmd =
        "timeout -k 5 120 " + std::string(GEV_EXAMPLES_DIR) + "/" + name + " 2>/dev/null";
    std::string output;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
    const int status = pclose(p);
    INFO("example " << name << " printed:\n" << output);
    CHECK_MESSAGE(WIFEXITED(status), name << " did not exit normally");
    CHECK_MESSAGE(WEXITSTATUS(status) == 0, name << " exited with " << WEXITSTATUS(status));
    const std::string difference = golden_difference(read_file(golden), output);
    CHECK_MESSAGE(difference.empty(), name << ": " << difference);
  }
}

TEST_CASE(
    "greenlet_states: the seed's states table, for a greenlet that succeeds and one that fails") {
  Run r = run_example("greenlet_states");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "after spawn:  started=true ready=false successful=false value=none"));
  CHECK(contains(r.output,
                 "worker1 done: started=true ready=true successful=true value=42 exception=none"));
  CHECK(contains(r.output,
                 "worker2 done: started=true ready=true successful=false value=none "
                 "exception=std::runtime_error: worker failed"));
  CHECK(contains(r.output, "worker1->get() = 42"));
  CHECK(contains(r.output, "worker2->get() threw: worker failed"));
}

TEST_CASE("greenlet_subclass: prints the message, sleeps n seconds, joins") {
  Run r = run_example("greenlet_subclass");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.rfind("Hi there!\n", 0) == 0);
  CHECK(contains(r.output, "successful=true"));
  CHECK(r.seconds >= 2.9);  // it really slept its 3 s
  CHECK(r.seconds < 60);
}

TEST_CASE("demo: sleepers, timeout!!, SIGQUIT shutdown, LoopExit") {
  Run r = run_example("demo");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "1. 10000 greenlets slept 100 ms each"));
  CHECK(contains(r.output, "sum of results 49995000"));
  CHECK(contains(r.output, "2. timeout!!"));
  CHECK(contains(r.output, "2 of 3 jobs had finished"));
  CHECK(contains(r.output,
                 "3. SIGQUIT -> gev::shutdown: 1000 of 1000 blocked greenlets got "
                 "GreenletExit, 1000 RAII destructors ran"));
  CHECK(contains(r.output, "4. instead of hanging forever: gev::LoopExit"));
  CHECK(contains(r.output, "demo done."));
}

TEST_CASE("event_async_result: subscribers wake on set; worker3 runs while the waiter is parked") {
  Run r = run_example("event_async_result");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output ==
        "subscriber 1 waiting\n"
        "subscriber 2 waiting\n"
        "subscriber 3 waiting\n"
        "publisher sets the event\n"
        "subscriber 1 got the event\n"
        "subscriber 2 got the event\n"
        "subscriber 3 got the event\n"
        "worker3\n"
        "Hello!\n");
  CHECK(r.seconds >= 2.9);  // the setter really slept its 3 s
}

TEST_CASE("queue_example: bounded producer/consumers with close(), JoinableQueue workers") {
  Run r = run_example("queue_example");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output ==
        "produced 1\n"
        "produced 2\n"
        "consumer-a got 1\n"
        "consumer-a got 2\n"
        "consumer-a got 3\n"
        "produced 3\n"
        "produced 4\n"
        "produced 5\n"
        "produced 6\n"
        "producer done\n"
        "consumer-a got 4\n"
        "consumer-a got 6\n"
        "consumer-a finished, total 16\n"
        "consumer-b got 5\n"
        "consumer-b finished, total 5\n"
        "worker 1 finished fetch\n"
        "worker 2 finished parse\n"
        "worker 1 finished store\n"
        "worker 2 finished index\n"
        "all 4 jobs done\n"
        "workers stopped\n");
}

TEST_CASE("consumer_producer: the seed's yield/send producer-consumer") {
  Run r = run_example("consumer_producer");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  std::string expected;
  for (int n = 1; n <= 5; ++n) {
    expected += "[PRODUCER] Producing " + std::to_string(n) + "...\n";
    expected += "[CONSUMER] Consuming " + std::to_string(n) + "...\n";
    expected += "[PRODUCER] Consumer return: 200 OK\n";
  }
  expected += "consumer closed: yes\n";
  CHECK(r.output == expected);
}

TEST_CASE("fibonacci: the Fab iterator class and the fab generator both give 1 1 2 3 5") {
  Run r = run_example("fibonacci");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output ==
        "Fab(5), iterator class:\n1\n1\n2\n3\n5\n"
        "fab(5), generator:\n1\n1\n2\n3\n5\n");
}

TEST_CASE("read_file_blocks: a generator reads a file in 1024-byte blocks and closes it") {
  Run r = run_example("read_file_blocks");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "in 1024-byte blocks"));
  CHECK(contains(r.output, "block 1: 1024 bytes"));
  CHECK(contains(r.output, "): OK"));
  CHECK(contains(r.output, "stopped after 2 blocks; open files while the generator lives: 1"));
  CHECK(contains(r.output, "open files after the generator is destroyed: 0"));
}

TEST_CASE("echo: ten concurrent clients get their lines back from the echo server") {
  Run r = run_example("echo");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  std::string expected;
  for (int i = 1; i <= 10; ++i) expected += "hello from client " + std::to_string(i) + "\n";
  expected += "echo done\n";
  CHECK(r.output == expected);
}

TEST_CASE("tls_client: fetches a page from openssl s_server -www over verified TLS") {
  const gev::test::TestPki& pki = gev::test::test_pki();  // a throwaway CA and certificates
  REQUIRE_MESSAGE(pki.error.empty(), pki.error);
  int port = 0;
  std::string log;
  auto server = gev::test::start_s_server(
      pki, {"-www", "-alpn", "http/1.1"}, [] { usleep(5000); }, &port, &log);
  REQUIRE_MESSAGE(server, "s_server did not start: " << log);  // killed at the end of the test
  const std::string where = "localhost " + std::to_string(port);
  // Each step of the example is bounded by its own 10 s timeout.
  Run r = run_example("tls_client " + where + " " + pki.ca);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "connected to localhost:" + std::to_string(port) + " with TLSv1.3"));
  CHECK(contains(r.output, "certificate CN=localhost issued by CN=gev test CA, ALPN http/1.1"));
  CHECK(contains(r.output, "HTTP 200 ok"));
  CHECK(contains(r.output, "s_server -accept 127.0.0.1:"));  // the page s_server generates

  Run refused = run_example("tls_client " + where + " ''");  // the system store: not our CA
  INFO(refused.output);
  CHECK(refused.exit_code == 1);
  CHECK(contains(refused.output, "refused the server's certificate"));
  CHECK(contains(refused.output, "unable to get local issuer certificate"));
}

TEST_CASE("curl_download: the seed's monkey-patched concurrent downloads, timeout!!, SIGQUIT") {
  // Like urlopen, the example honours the proxy variables: make sure none applies here, so
  // nothing leaves 127.0.0.1 whatever the environment says (setenv is inherited by the children).
  setenv("no_proxy", "*", 1);
  setenv("NO_PROXY", "*", 1);
  SUBCASE("every URL is printed when its download is done") {
    DelayServer server = start_delay_server("0.05");
    std::string urls;
    std::vector<std::string> expected;
    for (int i = 0; i < 5; ++i) {
      expected.push_back(server.url("/page-" + std::to_string(i)));
      urls += " " + expected.back();
    }
    Run r = run_example("curl_download" + urls);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    for (const std::string& url : expected) CHECK(contains(r.output, url + "\n"));
    CHECK_FALSE(contains(r.output, "timeout!!"));  // all done inside the 3 s Timeout
  }
  SUBCASE("a server slower than the 3 s Timeout: timeout!!, and the program ends") {
    DelayServer server = start_delay_server("10");
    Run r = run_example("curl_download " + server.url("/slow-1") + " " + server.url("/slow-2"));
    INFO(r.output);
    CHECK(contains(r.output, "timeout!!"));
    CHECK_FALSE(contains(r.output, "/slow-1\n"));  // never finished, never printed
    CHECK(r.exit_code == 1);                       // the downloads did not succeed
    CHECK(r.seconds >= 2.9);
    CHECK(r.seconds < 15.0);
  }
  SUBCASE("SIGQUIT -> gev::shutdown ends the downloads before the Timeout") {
    DelayServer server = start_delay_server("10");
    gev::test::ChildProcess program(
        {std::string(GEV_EXAMPLES_DIR) + "/curl_download", server.url("/quit")});
    REQUIRE(program.started());
    // Once the request reached the server, the download greenlet is parked inside libcurl.
    CHECK(server.process->wait_for_output("GET /quit", std::chrono::seconds(10),
                                          [] { usleep(5000); }));
    kill(program.pid(), SIGQUIT);
    const int code = program.wait_exit(std::chrono::seconds(10), [] { usleep(5000); });
    INFO(program.output());
    CHECK(code == 1);  // ended, not completed (-1: still running)
    CHECK_FALSE(contains(program.output(), "timeout!!"));  // ended before the 3 s Timeout
  }
  SUBCASE("no URL: usage on stderr, exit status 2") {
    Run r = run_example("curl_download");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.output, "usage:"));
  }
}

namespace {

// An example server started with HOST 127.0.0.1 and PORT 0: its URL from "serving on ...".
struct ExampleServer {
  std::unique_ptr<gev::test::ChildProcess> process;
  std::string url;
};

ExampleServer start_example_server(const std::string& name,
                                   const std::vector<std::string>& leading_args = {}) {
  ExampleServer s;
  std::vector<std::string> argv{std::string(GEV_EXAMPLES_DIR) + "/" + name};
  argv.insert(argv.end(), leading_args.begin(), leading_args.end());
  argv.insert(argv.end(), {"127.0.0.1", "0"});
  s.process = std::make_unique<gev::test::ChildProcess>(argv);
  REQUIRE(s.process->started());
  const bool printed =
      s.process->wait_for_output("\n", std::chrono::seconds(10), [] { usleep(5000); });
  REQUIRE_MESSAGE(printed, name << " printed nothing: " << s.process->output());
  const std::string& out = s.process->output();
  const auto at = out.find("serving on ");
  REQUIRE(at != std::string::npos);
  s.url = out.substr(at + 11, out.find_first_of(" \n", at + 11) - at - 11);
  return s;
}

}  // namespace

TEST_CASE("flask_hello: the seed's Flask app answers, 404 elsewhere, SIGTERM stops it") {
  ExampleServer s = start_example_server("flask_hello");
  std::string out;
  CHECK(gev::test::run_shell("curl -q -s --noproxy '*' --max-time 10 " + s.url + "/", &out) == 0);
  CHECK(out == "<h1>Hello Flask</h1>");
  CHECK(gev::test::run_shell("curl -q -s -o /dev/null -w '%{http_code}' --noproxy '*' "
                             "--max-time 10 " +
                                 s.url + "/nope",
                             &out) == 0);
  CHECK(out == "404");
  ::kill(s.process->pid(), SIGTERM);
  CHECK(s.process->wait_exit(std::chrono::seconds(10), [] { usleep(5000); }) == 0);
}

TEST_CASE("file_server: files by path, byte ranges, nothing outside its directory, SIGTERM") {
  char dir[] = "/tmp/gev-file-server-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string root = dir;
  REQUIRE(gev::test::run_shell("mkdir -p " + root + "/www/sub && printf 0123456789 > " + root +
                               "/www/sub/ten.txt && echo secret > " + root + "/secret.txt") == 0);
  {
    ExampleServer s = start_example_server("file_server", {root + "/www"});
    std::string out;
    const std::string curl = "curl -q -s --noproxy '*' --max-time 10 ";
    CHECK(gev::test::run_shell(curl + s.url + "/sub/ten.txt", &out) == 0);
    CHECK(out == "0123456789");
    CHECK(gev::test::run_shell(curl + "-r 2-4 -w ' %{http_code}' " + s.url + "/sub/ten.txt",
                               &out) == 0);
    CHECK(out == "234 206");
    CHECK(gev::test::run_shell(
              curl + "--path-as-is -o /dev/null -w '%{http_code}' " + s.url + "/../secret.txt",
              &out) == 0);
    CHECK(out == "404");
    ::kill(s.process->pid(), SIGTERM);
    CHECK(s.process->wait_exit(std::chrono::seconds(10), [] { usleep(5000); }) == 0);
  }
  gev::test::run_shell("rm -rf " + root);
  Run usage = run_example("file_server");
  CHECK(usage.exit_code == 2);
  CHECK(contains(usage.output, "usage:"));
}

TEST_CASE("streaming_response and https_fetch: a chunked countdown fetched by gev's client") {
  ExampleServer s = start_example_server("streaming_response");
  ::setenv("no_proxy", "*", 1);
  Run r = run_example("https_fetch " + s.url + "/countdown/3");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "200 OK"));
  CHECK(contains(r.output, "23 bytes from " + s.url + "/countdown/3"));
  CHECK(contains(r.output, "3..."));
  std::string out;
  CHECK(gev::test::run_shell("curl -q -s --noproxy '*' --max-time 10 " + s.url + "/countdown/2",
                             &out) == 0);
  CHECK(out == "2...\n1...\nliftoff\n");
  Run bad = run_example("https_fetch " + s.url + "/countdown/9999");
  CHECK(bad.exit_code == 1);
  CHECK(contains(bad.output, "400 Bad Request"));
  ::kill(s.process->pid(), SIGTERM);
  CHECK(s.process->wait_exit(std::chrono::seconds(10), [] { usleep(5000); }) == 0);
}

TEST_CASE("https_fetch: verified HTTPS from openssl s_server; refused without the CA; usage") {
  const gev::test::TestPki& pki = gev::test::test_pki();
  REQUIRE_MESSAGE(pki.error.empty(), pki.error);
  int port = 0;
  std::string log;
  auto server = gev::test::start_s_server(
      pki, {"-www"}, [] { usleep(5000); }, &port, &log);
  REQUIRE_MESSAGE(server, "s_server did not start: " << log);
  const std::string url = "https://localhost:" + std::to_string(port) + "/";
  Run r = run_example("https_fetch " + url + " " + pki.ca);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "200 ok"));
  Run refused = run_example("https_fetch " + url + " " + pki.self_signed_cert);
  CHECK(refused.exit_code == 1);
  CHECK(contains(refused.output, "https_fetch: "));
  CHECK(run_example("https_fetch").exit_code == 2);
  CHECK(run_example("https_fetch ftp://x/").exit_code == 1);
}
