// gevget against a fault-injecting server (tests/tools/fault_server.cpp): each case starts its
// own server process, runs the real gevget binary in a fresh temporary directory with --json,
// and checks the exit status, the JSON summary, what is on disk (docs/gevget.md is the contract)
// and, through the server's request log, which Range / If-Range requests gevget made. Cases: a
// plain file; Content-Disposition names (sanitized, filename*); a drip-fed body; cuts mid-body
// (every attempt, the first only, a lying Content-Length, chunked without its terminator);
// 503/429 with Retry-After; 404 (not retried) and 500 (retried); a redirect loop and a chain;
// a server ignoring Range; an ETag change between attempts; slow headers and --timeout; TLS
// (unknown CA, self-signed, expired; --ca-file, -k); -i with good and bad URLs; --checksum;
// -c (resume, stale and complete .part files); skipping existing files; -x split downloads
// (plain, with cut segments, with an ETag change, against a server ignoring Range); SIGTERM;
// name collisions; usage errors. Everything stays on loopback; every wait is bounded.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/ssl_support.hpp"
#include "tools/json_reader.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---- the shared body function (the server has the same) --------------------------------------

inline unsigned char fault_body_byte(std::uint64_t i, std::uint64_t s) {
  return static_cast<unsigned char>((i * 131 + s * 7 + i / 251) % 256);
}

std::string body(std::uint64_t size, std::uint64_t seed = 1) {
  std::string out(size, '\0');
  for (std::uint64_t i = 0; i < size; ++i) out[i] = static_cast<char>(fault_body_byte(i, seed));
  return out;
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(two, sizeof two, "%02x", md[i]);
    hex += two;
  }
  return hex;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains_any(const std::string& text, std::initializer_list<const char*> needles) {
  const std::string l = lower(text);
  for (const char* n : needles) {
    if (l.find(n) != std::string::npos) return true;
  }
  return false;
}

using gev::test::int_field;
using gev::test::Json;
using gev::test::num_field;
using gev::test::str_field;

// ---- files and directories -----------------------------------------------------------------

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// A fresh directory under /tmp with dl/ inside (the download directory); removed at the end.
struct TempDir {
  std::string root, dl;
  TempDir() {
    char tmpl[] = "/tmp/gevget-faults-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) root = tmpl;
    dl = root + "/dl";
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (root.rfind("/tmp/gevget-faults-", 0) != 0) return;
    nftw(
        root.c_str(),
        [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  std::string in_dl(const std::string& name) const { return dl + "/" + name; }
};

// ---- the fault server ------------------------------------------------------------------------

void pause_a_little() {
  ::usleep(5000);
}

struct FaultServer {
  std::unique_ptr<gev::test::ChildProcess> child;
  int port = -1;
  bool tls = false;

  explicit FaultServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {FAULT_SERVER_BIN};
    tls = !extra.empty();
    argv.insert(argv.end(), extra.begin(), extra.end());
    child = std::make_unique<gev::test::ChildProcess>(argv);
    if (!child->started()) return;
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      const bool more = child->pump();
      const std::string& out = child->output();
      const std::size_t at = out.find("PORT ");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
        port = std::atoi(out.c_str() + at + 5);
        break;
      }
      if (!more) break;
      pause_a_little();
    }
  }

  bool ok() const { return port > 0; }
  std::string url(const std::string& path) const {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + path;
  }

  // The server's request log (plain HTTP only), one line per request.
  std::vector<std::string> log() const { return lines_of("/_log"); }

  // The most requests the server was answering at once (plain HTTP only; -1 if unknown).
  int max_in_flight() const {
    const auto lines = lines_of("/_stats");
    for (const std::string& l : lines) {
      if (l.rfind("max_in_flight ", 0) == 0) return std::stoi(l.substr(14));
    }
    return -1;
  }

  // The body of GET `path`, as lines (the GET of `path` itself left out).
  std::vector<std::string> lines_of(const std::string& path) const {
    std::vector<std::string> lines;
    if (tls) return lines;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return lines;
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    std::string response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
        char buf[4096];
        for (int i = 0; i < 10000; ++i) {
          const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          response.append(buf, static_cast<std::size_t>(n));
        }
      }
    }
    ::close(fd);
    const std::size_t head_end = response.find("\r\n\r\n");
    if (head_end == std::string::npos) return lines;
    std::istringstream in(response.substr(head_end + 4));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("GET /_", 0) != 0) lines.push_back(line);
    }
    return lines;
  }

  // The log lines of GETs whose path starts with `prefix`.
  std::vector<std::string> gets(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const std::string& l : log()) {
      if (l.rfind("GET " + prefix, 0) == 0) out.push_back(l);
    }
    return out;
  }
};

// The "range=" value of a log line.
std::string range_of(const std::string& line) {
  const std::size_t at = line.find(" range=");
  if (at == std::string::npos) return "<none>";
  const std::size_t end = line.find(" if-range=", at);
  return line.substr(at + 7, end == std::string::npos ? std::string::npos : end - at - 7);
}
std::string if_range_of(const std::string& line) {
  const std::size_t at = line.find(" if-range=");
  return at == std::string::npos ? "<none>" : line.substr(at + 10);
}

// ---- running gevget --------------------------------------------------------------------------

struct Run {
  int exit_code = -1;  // -1: killed by a signal or still running at the limit
  bool timed_out = false;
  double seconds = 0;
  std::string output;     // stdout + stderr
  std::string json_text;  // the --json file
  std::optional<Json> json;

  // The summary (nullptr when there is none) and its entry for `url`.
  const Json* summary() const { return json ? &*json : nullptr; }
  const Json* download(const std::string& url) const {
    return gev::test::download_entry(summary(), url);
  }
  std::string describe() const {
    return "exit " + std::to_string(exit_code) + (timed_out ? " (timed out)" : "") +
           "\n--- json:\n" + json_text + "\n--- output:\n" + output.substr(0, 4000);
  }
};

// Runs gevget with `args` plus --json ROOT/summary.json; its output goes to ROOT/output.txt.
// With `signal_when`, `sig` is sent to gevget the first time signal_when() is true.
Run run_gevget(const TempDir& dir, std::vector<std::string> args,
               std::function<bool()> signal_when = {}, int sig = SIGTERM,
               std::chrono::seconds limit = 30s) {
  Run r;
  const std::string json_path = dir.root + "/summary.json";
  const std::string out_path = dir.root + "/output.txt";
  ::remove(json_path.c_str());
  std::vector<std::string> argv = {GEVGET_BIN, "--json", json_path};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, dir.root.c_str());
  const auto start = Clock::now();
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, GEVGET_BIN, &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    r.output = std::string("posix_spawn failed: ") + std::strerror(rc);
    return r;
  }
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (signal_when && signal_when()) {
      ::kill(pid, sig);
      signal_when = nullptr;
    }
    if (Clock::now() - start > limit) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    ::usleep(2000);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.output = read_file(out_path).value_or("");
  if (WIFSIGNALED(status) && !r.timed_out) {
    r.output += "\n[killed by signal " + std::to_string(WTERMSIG(status)) + "]";
  }
  r.json_text = read_file(json_path).value_or("");
  if (!r.json_text.empty()) r.json = gev::test::parse_json(r.json_text);
  return r;
}

// Checks common to every run: it ended by itself, no sanitizer report, a parseable summary whose
// exit_status matches the real one.
void check_run(const Run& r, int expected_exit) {
  INFO(r.describe());
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == expected_exit);
  CHECK(r.output.find("AddressSanitizer") == std::string::npos);
  CHECK(r.output.find("runtime error:") == std::string::npos);
  CHECK(r.output.find("LeakSanitizer") == std::string::npos);
  REQUIRE_MESSAGE(r.json.has_value(), "the --json summary is missing or not valid JSON");
  CHECK(int_field(r.summary(), "exit_status") == expected_exit);
}

// The standard arguments: fast retries, the download directory.
std::vector<std::string> args_for(const TempDir& dir, std::vector<std::string> extra) {
  std::vector<std::string> a = {"-d", dir.dl, "--retry-wait", "0.05", "--progress", "none"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

bool file_field_names(const Json* d, const std::string& name) {
  const std::string f = str_field(d, "file");
  return f == name || (f.size() > name.size() &&
                       f.compare(f.size() - name.size() - 1, std::string::npos, "/" + name) == 0);
}

// A failed download's leftovers: never the final name; a .part, if kept, holds only a prefix of
// the right content (never garbage).
void check_failed_leftovers(const TempDir& dir, const std::string& name,
                            const std::string& expected) {
  INFO("dl/: " << join(list_dir(dir.dl)));
  CHECK_FALSE(exists(dir.in_dl(name)));
  if (auto part = read_file(dir.in_dl(name + ".part"))) {
    CHECK(part->size() <= expected.size());
    CHECK(expected.compare(0, part->size(), *part) == 0);
  }
}

#define REQUIRE_SERVER(server) REQUIRE_MESSAGE((server).ok(), (server).child->output())

// gevget with the standard arguments plus `extra`, and check_run's checks on it.
Run fetch(const TempDir& dir, std::vector<std::string> extra, int expected_exit) {
  Run r = run_gevget(dir, args_for(dir, std::move(extra)));
  check_run(r, expected_exit);
  return r;
}

// Most cases' start: a plain fault server and a fresh directory.
struct FaultCase {
  FaultServer server;
  TempDir dir;
  FaultCase() { REQUIRE_SERVER(server); }

  // Fetches `path`, whose first response is cut and whose retry must start again from byte 0
  // (the server ignores Range, or the content changed): ok after two attempts with a 200, and the
  // file (the path's last component) holds exactly `expected`, nothing of the first response.
  void check_restarted_from_zero(const std::string& path, const std::string& expected) {
    const std::string url = server.url(path);
    const Run r = fetch(dir, {url}, 0);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "attempts") == 2);
    CHECK(int_field(d, "http_status") == 200);
    const auto got = read_file(dir.in_dl(path.substr(path.rfind('/') + 1)));
    REQUIRE(got.has_value());
    CHECK(got->size() == expected.size());  // no garbage appended
    CHECK(*got == expected);
  }
};

}  // namespace

TEST_SUITE("gevget faults") {
  TEST_CASE_FIXTURE(FaultCase, "a plain file: 200, identical bytes, the summary's fields") {
    const std::string url = server.url("/file/100000/plain.bin");
    const Run r = fetch(dir, {url}, 0);
    INFO(r.describe());
    CHECK(int_field(r.summary(), "ok") == 1);
    CHECK(int_field(r.summary(), "failed") == 0);
    CHECK(int_field(r.summary(), "skipped") == 0);
    CHECK(int_field(r.summary(), "bytes") == 100000);
    CHECK(num_field(r.summary(), "seconds") >= 0);
    const Json* d = r.download(url);
    REQUIRE(d != nullptr);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "http_status") == 200);
    CHECK(int_field(d, "attempts") == 1);
    CHECK(int_field(d, "bytes") == 100000);
    CHECK(str_field(d, "error") == "<null>");
    CHECK(file_field_names(d, "plain.bin"));
    CHECK(read_file(dir.in_dl("plain.bin")) == body(100000));
    CHECK(list_dir(dir.dl) == std::vector<std::string>{"plain.bin"});  // no .part left
  }

  TEST_CASE_FIXTURE(FaultCase, "Content-Disposition names are used and sanitized") {
    const std::string evil = server.url("/cd/..%2F..%2Fevil/1000");
    const std::string normal = server.url("/cd/report%20final.txt/2000");
    const std::string star = server.url("/cdstar/%E2%82%AC%20rates.txt/3000");
    const Run r = fetch(dir, {evil, normal, star}, 0);
    INFO(r.describe());
    INFO("dl/: " << join(list_dir(dir.dl)));
    CHECK(int_field(r.summary(), "ok") == 3);
    // Nothing escaped the download directory.
    CHECK(list_dir(dir.root) == std::vector<std::string>{"dl", "output.txt", "summary.json"});
    CHECK_FALSE(exists("/tmp/evil"));
    const Json* d = r.download(evil);
    REQUIRE(d != nullptr);
    const std::string file = str_field(d, "file");
    CHECK(file.find("..") == std::string::npos);
    CHECK(file_field_names(d, "evil"));  // only the final component is kept
    CHECK(read_file(dir.in_dl("evil")) == body(1000));
    CHECK(file_field_names(r.download(normal), "report final.txt"));
    CHECK(read_file(dir.in_dl("report final.txt")) == body(2000));
    CHECK(file_field_names(r.download(star), "\xE2\x82\xAC rates.txt"));
    CHECK(read_file(dir.in_dl("\xE2\x82\xAC rates.txt")) == body(3000));
  }

  TEST_CASE_FIXTURE(FaultCase,
                    "--per-host bounds the connections to one server; -j alone does not") {
    std::vector<std::string> urls;
    for (int i = 0; i < 4; ++i) {
      urls.push_back(server.url("/drip/8000/2000/50/ph" + std::to_string(i) + ".bin"));
    }
    std::vector<std::string> args = {"-j", "8", "--per-host", "2"};
    args.insert(args.end(), urls.begin(), urls.end());
    fetch(dir, args, 0);
    const int most = server.max_in_flight();
    CHECK(most <= 2);  // without the limit all 4 would run at once (the next case)
    CHECK(most >= 1);
    for (int i = 0; i < 4; ++i) {
      CHECK(read_file(dir.in_dl("ph" + std::to_string(i) + ".bin")) == body(8000));
    }
  }

  TEST_CASE_FIXTURE(FaultCase, "without --per-host, -j downloads from one server at once") {
    std::vector<std::string> args = {"-j", "3"};
    for (int i = 0; i < 4; ++i) {
      args.push_back(server.url("/drip/8000/2000/50/pj" + std::to_string(i) + ".bin"));
    }
    fetch(dir, args, 0);
    const int most = server.max_in_flight();
    CHECK(most <= 3);
    CHECK(most >= 2);  // each body takes 150+ ms: they overlap
  }

  TEST_CASE_FIXTURE(FaultCase,
                    "a drip-fed body (1 KB every 20 ms, longer than --timeout overall) succeeds") {
    const std::string url = server.url("/drip/40960/1024/20/drip.bin");
    const Run r = fetch(dir, {"--timeout", "0.5", url}, 0);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "attempts") == 1);
    CHECK(r.seconds > 0.6);  // the server really dripped
    CHECK(read_file(dir.in_dl("drip.bin")) == body(40960));
  }

  TEST_CASE_FIXTURE(
      FaultCase,
      "a connection closed mid-body on every attempt: retried with resumes, then failure") {
    const std::string url = server.url("/cut/100000/10000/cut.bin");
    const Run r = fetch(dir, {"--retry", "2", url}, 1);
    INFO(r.describe());
    CHECK(int_field(r.summary(), "failed") == 1);
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 3);
    CHECK(int_field(d, "http_status") >= 200);
    CHECK(contains_any(str_field(d, "error"), {"truncat", "short", "closed", "eof", "incomplete"}));
    check_failed_leftovers(dir, "cut.bin", body(100000));
    const auto gets = server.gets("/cut/");
    INFO(join(gets));
    REQUIRE(gets.size() == 3);
    CHECK(range_of(gets[1]) == "bytes=10000-");  // each retry resumes where the last stopped
    CHECK(range_of(gets[2]) == "bytes=20000-");
    CHECK(if_range_of(gets[1]) != "");
  }

  TEST_CASE_FIXTURE(FaultCase,
                    "only the first attempt is cut: the retry resumes with Range and If-Range") {
    const std::string url = server.url("/cutfirst/100000/30000/resume.bin");
    const Run r = fetch(dir, {url}, 0);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "attempts") == 2);
    CHECK(int_field(d, "http_status") == 206);
    CHECK(int_field(d, "bytes") == 100000);  // 30000 + 70000 received in this run
    CHECK(read_file(dir.in_dl("resume.bin")) == body(100000));
    CHECK(list_dir(dir.dl) == std::vector<std::string>{"resume.bin"});
    const auto gets = server.gets("/cutfirst/");
    INFO(join(gets));
    REQUIRE(gets.size() == 2);
    CHECK(range_of(gets[1]) == "bytes=30000-");
    CHECK((if_range_of(gets[1]) == "\"v1\"" ||
           if_range_of(gets[1]) == "Wed, 21 Oct 2015 07:28:00 GMT"));
  }

  TEST_CASE_FIXTURE(FaultCase,
                    "a Content-Length larger than the body: truncated, retried, failure") {
    const std::string url = server.url("/badlen/50000/20000/badlen.bin");
    const Run r = fetch(dir, {"--retry", "1", url}, 1);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 2);
    CHECK(contains_any(str_field(d, "error"), {"truncat", "short", "closed", "eof", "incomplete"}));
    check_failed_leftovers(dir, "badlen.bin", body(50000));
    CHECK(server.gets("/badlen/").size() == 2);
  }

  TEST_CASE_FIXTURE(
      FaultCase, "chunked bodies: complete succeeds, cut short (no 0-chunk) fails after retries") {
    const std::string good = server.url("/chunked/30000/chunked.bin");
    const std::string cut = server.url("/chunkcut/30000/12000/chunkcut.bin");
    const Run r = fetch(dir, {"--retry", "1", good, cut}, 1);
    INFO(r.describe());
    CHECK(int_field(r.summary(), "ok") == 1);
    CHECK(int_field(r.summary(), "failed") == 1);
    CHECK(str_field(r.download(good), "status") == "ok");
    CHECK(read_file(dir.in_dl("chunked.bin")) == body(30000));
    const Json* d = r.download(cut);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 2);
    CHECK(str_field(d, "error") != "<null>");
    check_failed_leftovers(dir, "chunkcut.bin", body(30000));
  }

  TEST_CASE_FIXTURE(FaultCase, "503 and 429 with Retry-After: 1, then 200") {
    const std::string busy = server.url("/busy/503/2/5000/busy.bin");
    const std::string many = server.url("/busy/429/1/6000/many.bin");
    const Run r = fetch(dir, {"--retry", "3", busy, many}, 0);
    INFO(r.describe());
    const Json* d = r.download(busy);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "attempts") == 3);
    CHECK(int_field(d, "http_status") == 200);
    CHECK(read_file(dir.in_dl("busy.bin")) == body(5000));
    d = r.download(many);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "attempts") == 2);
    CHECK(read_file(dir.in_dl("many.bin")) == body(6000));
    // Retry-After replaces the 0.05 s back-off: two 1 s waits (the downloads run concurrently).
    CHECK(r.seconds > 1.8);
    CHECK(server.gets("/busy/503/").size() == 3);
    CHECK(server.gets("/busy/429/").size() == 2);
  }

  TEST_CASE_FIXTURE(FaultCase, "404 is never retried; 500 is") {
    const std::string missing = server.url("/err/404/missing.bin");
    const std::string broken = server.url("/err/500/broken.bin");
    const Run r = fetch(dir, {"--retry", "2", missing, broken}, 1);
    INFO(r.describe());
    CHECK(int_field(r.summary(), "failed") == 2);
    const Json* d = r.download(missing);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 1);
    CHECK(int_field(d, "http_status") == 404);
    CHECK(int_field(d, "bytes") == 0);
    CHECK(contains_any(str_field(d, "error"), {"404"}));
    d = r.download(broken);
    CHECK(int_field(d, "attempts") == 3);
    CHECK(int_field(d, "http_status") == 500);
    CHECK(contains_any(str_field(d, "error"), {"500"}));
    CHECK(server.gets("/err/404/").size() == 1);
    CHECK(server.gets("/err/500/").size() == 3);
    INFO("dl/: " << join(list_dir(dir.dl)));
    CHECK_FALSE(exists(dir.in_dl("missing.bin")));
    CHECK_FALSE(exists(dir.in_dl("broken.bin")));
    // The error body must not land on disk under the final name, nor as a complete .part.
    for (const std::string& f : list_dir(dir.dl)) CHECK(f.find(".part") != std::string::npos);
  }

  TEST_CASE_FIXTURE(FaultCase, "a redirect loop fails naming redirects and is not retried") {
    const std::string url = server.url("/loop/a");
    const Run r = fetch(dir, {"--retry", "3", "--max-redirects", "5", url}, 1);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 1);
    CHECK(contains_any(str_field(d, "error"), {"redirect"}));
    const auto gets = server.gets("/loop/");
    INFO(join(gets));
    CHECK(gets.size() >= 5);
    CHECK(gets.size() <= 6);  // 1 + 5 redirects, once
    CHECK(list_dir(dir.dl).empty());
  }

  TEST_CASE_FIXTURE(
      FaultCase,
      "a redirect chain (301, 302, 303, 307, 308; absolute and relative) ends at the file") {
    const std::string url = server.url("/redir/4/3000/chain.bin");
    const Run r = fetch(dir, {url}, 0);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "attempts") == 1);
    CHECK(int_field(d, "http_status") == 200);
    CHECK(read_file(dir.in_dl("chain.bin")) == body(3000));
    CHECK(server.gets("/redir/").size() == 5);
  }

  TEST_CASE_FIXTURE(
      FaultCase,
      "a server that ignores Range and cuts the first response: the retry restarts at 0") {
    check_restarted_from_zero("/norange/100000/40000/norange.bin", body(100000));
  }

  TEST_CASE_FIXTURE(
      FaultCase, "the ETag changes between attempts: the final file is the new content exactly") {
    check_restarted_from_zero("/etag/100000/40000/etag.bin", body(100000, 2));
    const auto gets = server.gets("/etag/");
    INFO(join(gets));
    REQUIRE(gets.size() == 2);
    if (range_of(gets[1]) != "") CHECK(if_range_of(gets[1]) != "");  // Range needs If-Range
  }

  TEST_CASE_FIXTURE(FaultCase,
                    "slow headers: --timeout gives up (retried), a longer one succeeds") {
    const std::string slow = server.url("/slow/3000/1000/slow.bin");
    Run r = fetch(dir, {"--timeout", "0.3", "--retry", "1", slow}, 1);
    {
      INFO(r.describe());
      const Json* d = r.download(slow);
      CHECK(str_field(d, "status") == "failed");
      CHECK(int_field(d, "attempts") == 2);
      CHECK(contains_any(str_field(d, "error"), {"timeout", "timed out", "in time"}));
      CHECK(r.seconds < 2.5);  // gave up long before the server's 3 s
      check_failed_leftovers(dir, "slow.bin", body(1000));
    }
    const std::string ok = server.url("/slow/300/1000/ok.bin");
    r = fetch(dir, {"--timeout", "3", ok}, 0);
    INFO(r.describe());
    CHECK(str_field(r.download(ok), "status") == "ok");
    CHECK(read_file(dir.in_dl("ok.bin")) == body(1000));
  }

  TEST_CASE("TLS: an unknown CA fails with exit 4; --ca-file and --insecure succeed") {
    const gev::test::TestPki& pki = gev::test::test_pki();
    REQUIRE_MESSAGE(pki.error.empty(), pki.error);
    FaultServer server({"--tls", pki.server_cert, pki.server_key});
    REQUIRE_SERVER(server);
    const std::string url = server.url("/file/20000/tls.bin");
    {
      TempDir dir;
      const Run r = fetch(dir, {"--retry", "2", url}, 4);
      INFO(r.describe());
      const Json* d = r.download(url);
      CHECK(str_field(d, "status") == "failed");
      CHECK(int_field(d, "attempts") == 1);  // certificate failures are not retried
      CHECK(contains_any(str_field(d, "error"), {"certif", "verif", "tls", "ssl"}));
      INFO("dl/: " << join(list_dir(dir.dl)));
      CHECK_FALSE(exists(dir.in_dl("tls.bin")));
      CHECK_FALSE(exists(dir.in_dl("tls.bin.part")));
    }
    {
      TempDir dir;
      const Run r = fetch(dir, {"--ca-file", pki.ca, url}, 0);
      INFO(r.describe());
      CHECK(str_field(r.download(url), "status") == "ok");
      CHECK(read_file(dir.in_dl("tls.bin")) == body(20000));
    }
    {
      TempDir dir;
      const Run r = fetch(dir, {"--insecure", url}, 0);
      INFO(r.describe());
      CHECK(read_file(dir.in_dl("tls.bin")) == body(20000));
    }
    {
      // An expired certificate from the trusted CA: still exit 4.
      FaultServer expired({"--tls", pki.expired_cert, pki.expired_key});
      REQUIRE_SERVER(expired);
      TempDir dir;
      const std::string expired_url = expired.url("/file/20000/expired.bin");
      const Run r = fetch(dir, {"--ca-file", pki.ca, expired_url}, 4);
      INFO(r.describe());
      CHECK(str_field(r.download(expired_url), "status") == "failed");
      CHECK(int_field(r.download(expired_url), "attempts") == 1);
      CHECK(list_dir(dir.dl).empty());
    }
  }

  TEST_CASE("TLS: a self-signed certificate fails with exit 4; -k succeeds") {
    const gev::test::TestPki& pki = gev::test::test_pki();
    REQUIRE_MESSAGE(pki.error.empty(), pki.error);
    FaultServer server({"--tls", pki.self_signed_cert, pki.self_signed_key});
    REQUIRE_SERVER(server);
    const std::string url = server.url("/cutfirst/20000/5000/self.bin");
    {
      TempDir dir;
      const Run r = fetch(dir, {url}, 4);
      INFO(r.describe());
      CHECK(str_field(r.download(url), "status") == "failed");
      CHECK(list_dir(dir.dl).empty());
    }
    {
      // Over TLS too, a cut first response is resumed.
      TempDir dir;
      const Run r = fetch(dir, {"-k", url}, 0);
      INFO(r.describe());
      const Json* d = r.download(url);
      CHECK(str_field(d, "status") == "ok");
      CHECK(int_field(d, "attempts") == 2);
      CHECK(read_file(dir.in_dl("self.bin")) == body(20000));
    }
  }

  TEST_CASE_FIXTURE(FaultCase, "-i FILE with good and bad URLs: per-URL results, exit 1") {
    const std::string good1 = server.url("/file/1000/good1.bin");
    const std::string bad404 = server.url("/err/404/bad404.bin");
    const std::string good2 = server.url("/file/2000/good2.bin");
    const std::string badcut = server.url("/cut/5000/1000/badcut.bin");
    const std::string good3 = server.url("/redir/2/3000/good3.bin");
    const std::string input = "# a comment\n" + good1 + "\n" + bad404 + "\n\n" + good2 +
                              "  out=renamed.bin\tsha256=" + sha256_hex(body(2000)) + "\n" +
                              badcut + "\n   \n" + good3 + "\n";
    write_file(dir.root + "/urls.txt", input);
    const Run r = fetch(dir, {"--retry", "1", "-j", "3", "-i", dir.root + "/urls.txt"}, 1);
    INFO(r.describe());
    CHECK(int_field(r.summary(), "ok") == 3);
    CHECK(int_field(r.summary(), "failed") == 2);
    CHECK(gev::test::array_field(r.summary(), "downloads").size() == 5);
    CHECK(str_field(r.download(good1), "status") == "ok");
    CHECK(str_field(r.download(good2), "status") == "ok");
    CHECK(str_field(r.download(good3), "status") == "ok");
    CHECK(file_field_names(r.download(good2), "renamed.bin"));
    const Json* d = r.download(bad404);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 1);
    CHECK(int_field(d, "http_status") == 404);
    d = r.download(badcut);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 2);
    CHECK(read_file(dir.in_dl("good1.bin")) == body(1000));
    CHECK(read_file(dir.in_dl("renamed.bin")) == body(2000));
    CHECK(read_file(dir.in_dl("good3.bin")) == body(3000));
    CHECK_FALSE(exists(dir.in_dl("good2.bin")));
    check_failed_leftovers(dir, "bad404.bin", "");
    check_failed_leftovers(dir, "badcut.bin", body(5000));
  }

  TEST_CASE("--checksum: a wrong sha256 exits 5 with no file; the right one succeeds") {
    FaultServer server;
    REQUIRE_SERVER(server);
    const std::string url = server.url("/file/4000/sum.bin");
    {
      TempDir dir;
      const Run r =
          fetch(dir, {"--retry", "2", "--checksum", "sha256=" + std::string(64, '0'), url}, 5);
      INFO(r.describe());
      const Json* d = r.download(url);
      CHECK(str_field(d, "status") == "failed");
      CHECK(int_field(d, "attempts") == 1);  // a mismatch is not retried
      CHECK(contains_any(str_field(d, "error"), {"checksum", "sha256", "mismatch"}));
      INFO("dl/: " << join(list_dir(dir.dl)));
      CHECK_FALSE(exists(dir.in_dl("sum.bin")));
      CHECK_FALSE(exists(dir.in_dl("sum.bin.part")));  // a mismatch deletes the .part
    }
    {
      TempDir dir;
      const Run r = fetch(dir, {"--checksum", "sha256=" + sha256_hex(body(4000)), url}, 0);
      INFO(r.describe());
      CHECK(read_file(dir.in_dl("sum.bin")) == body(4000));
    }
    {
      // In an input file, a wrong checksum beside a 404: exit 5 wins over 1.
      TempDir dir;
      write_file(dir.root + "/urls.txt", url + " sha256=" + std::string(64, 'a') + "\n" +
                                             server.url("/err/404/x.bin") + "\n");
      const Run r = fetch(dir, {"-i", dir.root + "/urls.txt"}, 5);
      INFO(r.describe());
      CHECK(int_field(r.summary(), "failed") == 2);
      CHECK_FALSE(exists(dir.in_dl("sum.bin")));
    }
  }

  TEST_CASE_FIXTURE(FaultCase, "-c resumes the .part an earlier failed run left") {
    const std::string url = server.url("/cutfirst/100000/30000/cont.bin");
    Run r = fetch(dir, {"--retry", "0", url}, 1);
    {
      INFO(r.describe());
      CHECK(int_field(r.download(url), "attempts") == 1);
      INFO("dl/: " << join(list_dir(dir.dl)));
      CHECK_FALSE(exists(dir.in_dl("cont.bin")));
      const auto part = read_file(dir.in_dl("cont.bin.part"));
      REQUIRE_MESSAGE(part.has_value(), "the .part of a failed download was not kept");
      CHECK(*part == body(30000));
    }
    r = fetch(dir, {"-c", url}, 0);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "attempts") == 1);
    CHECK(int_field(d, "bytes") == 70000);  // only what this run received
    CHECK(int_field(d, "http_status") == 206);
    CHECK(read_file(dir.in_dl("cont.bin")) == body(100000));
    CHECK(list_dir(dir.dl) == std::vector<std::string>{"cont.bin"});
    const auto gets = server.gets("/cutfirst/");
    INFO(join(gets));
    REQUIRE(gets.size() == 2);
    CHECK(range_of(gets[1]) == "bytes=30000-");
    CHECK(if_range_of(gets[1]) != "");
  }

  TEST_CASE_FIXTURE(FaultCase, "-c over a .part whose server ignores Range: restarted from zero") {
    // /norange/N/0 never cuts, claims ranges, always answers 200 with the whole body.
    const std::string url = server.url("/norange/50000/0/stale.bin");
    ::mkdir(dir.dl.c_str(), 0755);
    write_file(dir.in_dl("stale.bin.part"), std::string(20000, 'X'));
    const Run r = fetch(dir, {"-c", url}, 0);
    INFO(r.describe());
    CHECK(str_field(r.download(url), "status") == "ok");
    CHECK(read_file(dir.in_dl("stale.bin")) == body(50000));  // no stale bytes kept
  }

  TEST_CASE_FIXTURE(FaultCase, "an existing file is skipped unless --overwrite") {
    const std::string url = server.url("/file/1500/exists.bin");
    ::mkdir(dir.dl.c_str(), 0755);
    write_file(dir.in_dl("exists.bin"), "old contents");
    Run r = fetch(dir, {url}, 0);
    {
      INFO(r.describe());
      CHECK(int_field(r.summary(), "skipped") == 1);
      CHECK(str_field(r.download(url), "status") == "skipped");
      CHECK(read_file(dir.in_dl("exists.bin")) == std::string("old contents"));
      CHECK(server.gets("/file/").empty());
    }
    r = fetch(dir, {"--overwrite", url}, 0);
    INFO(r.describe());
    CHECK(str_field(r.download(url), "status") == "ok");
    CHECK(read_file(dir.in_dl("exists.bin")) == body(1500));
  }

  TEST_CASE_FIXTURE(FaultCase,
                    "-x 4 splits a large file over ranged connections; the result is identical") {
    const std::string url = server.url("/file/1048576/split.bin");
    const Run r = fetch(dir, {"-x", "4", "--min-split-size", "64k", url}, 0);
    INFO(r.describe());
    CHECK(str_field(r.download(url), "status") == "ok");
    CHECK(read_file(dir.in_dl("split.bin")) == body(1048576));
    CHECK(list_dir(dir.dl) == std::vector<std::string>{"split.bin"});
    const auto gets = server.gets("/file/");
    INFO(join(gets));
    CHECK(gets.size() >= 2);
    CHECK(range_of(gets.at(0)) == "bytes=0-");
  }

  TEST_CASE_FIXTURE(FaultCase, "-x 4: segments cut mid-body are retried from where they stopped") {
    const std::string url = server.url("/cut/200000/30000/xcut.bin");
    const Run r = fetch(dir, {"-x", "4", "--min-split-size", "16k", "--retry", "20", url}, 0);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "attempts") > 1);
    CHECK(read_file(dir.in_dl("xcut.bin")) == body(200000));
    CHECK(list_dir(dir.dl) == std::vector<std::string>{"xcut.bin"});
    // Resumed, never restarted: only the first request starts at byte 0.
    const auto gets = server.gets("/cut/");
    INFO(join(gets));
    CHECK(gets.size() >= 5);
    CHECK(std::count_if(gets.begin(), gets.end(), [](const std::string& l) {
            return range_of(l).rfind("bytes=0-", 0) == 0;
          }) == 1);
  }

  TEST_CASE_FIXTURE(FaultCase,
                    "-x 4: the ETag changes under a split download: restarted as one stream") {
    const std::string url = server.url("/etag/200000/40000/xetag.bin");
    const Run r = fetch(dir, {"-x", "4", "--min-split-size", "16k", url}, 0);
    INFO(r.describe());
    INFO(join(server.gets("/etag/")));
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "ok");
    CHECK(str_field(d, "error") == "<null>");
    const auto got = read_file(dir.in_dl("xetag.bin"));
    REQUIRE(got.has_value());
    CHECK(got->size() == 200000);
    CHECK(*got == body(200000, 2));
    CHECK(r.output.find("failed with") == std::string::npos);  // no escaped greenlet error
  }

  TEST_CASE_FIXTURE(FaultCase,
                    "-x 4 against a server that claims ranges but ignores them: one stream") {
    const std::string url = server.url("/norange/300000/0/xnr.bin");
    const Run r = fetch(dir, {"-x", "4", "--min-split-size", "16k", url}, 0);
    INFO(r.describe());
    CHECK(str_field(r.download(url), "status") == "ok");
    CHECK(read_file(dir.in_dl("xnr.bin")) == body(300000));
    CHECK(server.gets("/norange/").size() == 1);
  }

  TEST_CASE_FIXTURE(FaultCase, "SIGTERM mid-download: exit 143, .part kept; -c then completes it") {
    // 4 KB every 20 ms: 400 KB take about 2 s.
    const std::string url = server.url("/drip/400000/4096/20/sig.bin");
    const std::string part_path = dir.in_dl("sig.bin.part");
    auto some_bytes_arrived = [&] {
      struct stat st;
      return ::stat(part_path.c_str(), &st) == 0 && st.st_size >= 40000;
    };
    Run r = run_gevget(dir, args_for(dir, {url}), some_bytes_arrived, SIGTERM);
    check_run(r, 143);
    {
      INFO(r.describe());
      const Json* d = r.download(url);
      CHECK(str_field(d, "status") == "interrupted");
      CHECK(r.seconds < 1.8);  // stopped promptly (the whole body takes 2 s)
      INFO("dl/: " << join(list_dir(dir.dl)));
      CHECK_FALSE(exists(dir.in_dl("sig.bin")));
      const auto part = read_file(part_path);
      REQUIRE_MESSAGE(part.has_value(), "the .part of an interrupted download was not kept");
      CHECK(part->size() >= 40000);
      CHECK(part->size() < 400000);
      CHECK(body(400000).compare(0, part->size(), *part) == 0);
      CHECK(exists(dir.in_dl("sig.bin.part.gevget")));
    }
    r = fetch(dir, {"-c", url}, 0);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "ok");
    CHECK(int_field(d, "bytes") < 400000);  // resumed, not restarted
    CHECK(read_file(dir.in_dl("sig.bin")) == body(400000));
    CHECK(list_dir(dir.dl) == std::vector<std::string>{"sig.bin"});
    const auto gets = server.gets("/drip/");
    INFO(join(gets));
    REQUIRE(gets.size() == 2);
    CHECK(range_of(gets[1]) != "");
    CHECK(range_of(gets[1]) != "bytes=0-");
  }

  TEST_CASE_FIXTURE(FaultCase, "-c with a .part already complete (416) or longer than the file") {
    ::mkdir(dir.dl.c_str(), 0755);
    const std::string complete = server.url("/file/1000/complete.bin");
    const std::string longer = server.url("/file/1000/longer.bin");
    write_file(dir.in_dl("complete.bin.part"), body(1000));
    write_file(dir.in_dl("longer.bin.part"), body(1500));
    const Run r = fetch(dir, {"-c", complete, longer}, 0);
    INFO(r.describe());
    CHECK(str_field(r.download(complete), "status") == "ok");
    CHECK(str_field(r.download(longer), "status") == "ok");
    CHECK(read_file(dir.in_dl("complete.bin")) == body(1000));
    CHECK(read_file(dir.in_dl("longer.bin")) == body(1000));  // never the stale 1500 bytes
    CHECK(list_dir(dir.dl) == std::vector<std::string>{"complete.bin", "longer.bin"});
  }

  TEST_CASE_FIXTURE(FaultCase, "two downloads of one run never share a file") {
    const std::vector<std::pair<std::string, std::uint64_t>> urls = {
        {server.url("/cd/same.bin/100"), 100},
        {server.url("/cd/same.bin/200"), 200},
        {server.url("/file/300/same.bin"), 300}};
    const Run r = fetch(dir, {urls[0].first, urls[1].first, urls[2].first}, 0);
    INFO(r.describe());
    CHECK(list_dir(dir.dl) == std::vector<std::string>{"same.bin", "same.bin.1", "same.bin.2"});
    std::vector<std::string> files;
    for (const auto& [url, size] : urls) {
      const Json* d = r.download(url);
      const std::string file = str_field(d, "file");
      files.push_back(file);
      const std::string name = file.substr(file.rfind('/') + 1);
      CHECK(read_file(dir.in_dl(name)) == body(size));
    }
    std::sort(files.begin(), files.end());
    CHECK(std::unique(files.begin(), files.end()) == files.end());
  }

  TEST_CASE("--connect-timeout: a server that never completes the handshake; retried, then 1") {
    // A listener that never accepts, its queue full: Linux drops further SYNs, so a connect
    // to it hangs until the client gives up.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener, 0) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers.push_back(c);
    }
    ::usleep(100000);  // let the fillers' handshakes complete into the queue
    TempDir dir;
    const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/x.bin";
    const Run r = fetch(dir, {"--connect-timeout", "0.3", "--retry", "1", url}, 1);
    INFO(r.describe());
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 2);
    CHECK(str_field(d, "error").find("timed out") != std::string::npos);
    CHECK(r.seconds < 20);  // bounded by the timeout, not by the kernel's SYN retries
    CHECK_FALSE(exists(dir.in_dl("x.bin")));
    for (int c : fillers) ::close(c);
    ::close(listener);
  }

  TEST_CASE("usage errors exit 2: -o with several URLs, a bad URL") {
    TempDir dir;
    Run r =
        run_gevget(dir, {"-d", dir.dl, "-o", "x", "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"});
    INFO(r.describe());
    CHECK(r.exit_code == 2);
    r = run_gevget(dir, {"-d", dir.dl, "ftp://127.0.0.1:9/a"});
    INFO(r.describe());
    CHECK(r.exit_code == 2);
    CHECK_FALSE(exists(dir.in_dl("x")));
  }
}
