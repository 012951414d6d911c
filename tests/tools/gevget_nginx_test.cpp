// The real gevget program (GEVGET_BIN) against a real nginx that the test starts on loopback with
// a generated config and an access log in its temporary directory. Every case checks gevget's
// exit status, its --json summary, and the bytes on disk (sha256 against the served files); the
// access log shows which requests gevget made (ranges, 206s), told apart per run by an
// `X-Gevget-Run` header (-H) that nginx logs. Plain POSIX here: gevget and nginx are child
// processes, every wait is bounded, and the temporary directories are removed.
#include <dirent.h>
#include <doctest/doctest.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/ssl_support.hpp"
#include "tools/json_reader.hpp"

using namespace std::chrono_literals;
using gev::test::array_field;
using gev::test::ChildProcess;
using gev::test::int_field;
using gev::test::Json;
using gev::test::str_field;
using gev::test::type_field;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

void pause_briefly() {
  ::usleep(10 * 1000);
}

// ---------------------------------------------------------------------------------------------
// Files

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

long long file_size(const std::string& path) {  // -1: no such file
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void remove_tree(const std::string& dir) {
  if (dir.rfind("/tmp/", 0) != 0) return;  // never anything else
  nftw(
      dir.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

// Every entry below `dir` (files and directories), as paths relative to it, sorted.
void list_tree_into(const std::string& dir, const std::string& prefix,
                    std::vector<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : names) {
    const std::string rel = prefix.empty() ? name : prefix + "/" + name;
    out.push_back(rel);
    struct stat st;
    if (::lstat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      list_tree_into(dir + "/" + name, rel, out);
    }
  }
}

std::vector<std::string> list_tree(const std::string& dir) {
  std::vector<std::string> out;
  list_tree_into(dir, "", out);
  std::sort(out.begin(), out.end());
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gevget-nginx-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() { remove_tree(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& rel) const { return path + "/" + rel; }
};

// ---------------------------------------------------------------------------------------------
// sha256 (OpenSSL EVP) and deterministic random content

std::string hex(const unsigned char* p, unsigned n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) == 1);
  return hex(md, n);
}

// The file's sha256, or "<missing>" when it cannot be read.
std::string sha256_file(const std::string& path) {
  FILE* f = ::fopen(path.c_str(), "rb");
  if (f == nullptr) return "<missing>";
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  std::size_t n;
  while ((n = ::fread(buf.data(), 1, buf.size(), f)) > 0) EVP_DigestUpdate(ctx, buf.data(), n);
  ::fclose(f);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return hex(md, len);
}

struct Rng {  // splitmix64: fast, and the same content every run
  std::uint64_t state;
  explicit Rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

std::string random_bytes(std::size_t n, Rng& rng) {
  std::string s(n, '\0');
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t v = rng.next();
    std::memcpy(&s[i], &v, 8);
  }
  for (; i < n; ++i) s[i] = static_cast<char>(rng.next());
  return s;
}

// ---------------------------------------------------------------------------------------------
// nginx on loopback, with an access log of the requests gevget made

struct LogLine {
  std::string run, status, method, uri, range, if_range;
  long long bytes = 0;
};

struct Nginx {
  TempDir dir;
  int port = 0;
  std::unique_ptr<ChildProcess> process;
  std::string error;

  Nginx() {
    ::mkdir((dir / "www").c_str(), 0755);
    ::mkdir((dir / "tmp").c_str(), 0755);
  }
  ~Nginx() { process.reset(); }  // killed and reaped before the directory goes

  // Writes www/REL (creating its directories) and returns the content's sha256.
  std::string write(const std::string& rel, const std::string& data) const {
    for (std::size_t slash = rel.find('/'); slash != std::string::npos;
         slash = rel.find('/', slash + 1)) {
      ::mkdir((dir / ("www/" + rel.substr(0, slash))).c_str(), 0755);
    }
    write_file(dir / ("www/" + rel), data);
    return sha256(data);
  }

  void write_config() const {
    const std::string d = dir.path;
    std::ofstream(d + "/nginx.conf")
        << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        << "pid " << d << "/nginx.pid;\nerror_log " << d << "/error.log;\n"
        << "events { worker_connections 1024; }\nhttp {\n"
        << "  log_format gevget 'run=$http_x_gevget_run $status $request_method $uri "
           "$body_bytes_sent range=$http_range if_range=$http_if_range';\n"
        << "  access_log " << d << "/access.log gevget;\n"
        << "  client_body_temp_path " << d << "/tmp;\n"
        << "  proxy_temp_path " << d << "/tmp;\n  fastcgi_temp_path " << d << "/tmp;\n"
        << "  uwsgi_temp_path " << d << "/tmp;\n  scgi_temp_path " << d << "/tmp;\n"
        << "  keepalive_requests 100000;\n  default_type application/octet-stream;\n"
        << "  server {\n    listen 127.0.0.1:" << port << ";\n    root " << d << "/www;\n"
        << "    location /cd/evil/ { add_header Content-Disposition "
           "'attachment; filename=\"../../evil.txt\"'; }\n"
        << "    location /cd/abs/ { add_header Content-Disposition "
           "'attachment; filename=\"/etc/gevget-evil.txt\"'; }\n"
        << "    location /cd/good/ { add_header Content-Disposition "
           "'attachment; filename=\"report.pdf\"'; }\n"
        << "    location /cd/utf8/ { add_header Content-Disposition "
           "\"attachment; filename*=UTF-8''na%C3%AFve.txt\"; }\n"
        << "  }\n}\n";
  }

  bool listening() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  bool start() {
    for (int attempt = 0; attempt < 5; ++attempt) {  // another process may take the free port
      port = gev::test::free_port();
      write_config();
      process = std::make_unique<ChildProcess>(
          std::vector<std::string>{"/usr/sbin/nginx", "-p", dir.path, "-c", dir / "nginx.conf"});
      if (!process->started()) break;
      for (int i = 0; i < 500; ++i) {  // up to ~5 s for nginx to listen
        if (listening()) return true;
        if (process->wait_exit(0ms, pause_briefly) != -1) break;  // it gave up (port taken?)
        pause_briefly();
      }
      process.reset();
    }
    error = read_file(dir / "error.log");
    return false;
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

  std::vector<LogLine> log(const std::string& run, const std::string& uri = "") const {
    std::vector<LogLine> out;
    std::istringstream in(read_file(dir / "access.log"));
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      LogLine l;
      std::string tag, range, if_range;
      words >> tag >> l.status >> l.method >> l.uri >> l.bytes >> range;
      std::getline(words, if_range);  // a date has blanks
      // nginx logs an empty variable as "-".
      auto value = [](const std::string& field, std::size_t skip) {
        std::string v = field.substr(std::min(field.size(), skip));
        return v == "-" ? std::string() : v;
      };
      l.run = value(tag, 4);             // run=
      l.range = value(range, 6);         // range=
      l.if_range = value(if_range, 10);  // " if_range="
      if (l.run != run || (!uri.empty() && l.uri != uri)) continue;
      out.push_back(l);
    }
    return out;
  }

  // nginx logs a request when it has sent the answer, which may be a moment after the client saw
  // it: waits (bounded) until `run` has at least `n` lines for `uri`.
  std::vector<LogLine> wait_log(const std::string& run, const std::string& uri,
                                std::size_t n) const {
    std::vector<LogLine> lines;
    for (int i = 0; i < 200; ++i) {
      lines = log(run, uri);
      if (lines.size() >= n) break;
      pause_briefly();
    }
    return lines;
  }
};

std::string describe(const std::vector<LogLine>& lines) {
  std::string s;
  for (const LogLine& l : lines) {
    s += "\n  " + l.status + " " + l.method + " " + l.uri + " " + std::to_string(l.bytes) +
         " range=" + l.range + " if_range=" + l.if_range;
  }
  return s.empty() ? "(none)" : s;
}

// The start of a `bytes=N-...` range header, or -1 when there is none.
long long range_start(const LogLine& l) {
  if (l.range.rfind("bytes=", 0) != 0) return -1;
  return std::atoll(l.range.c_str() + 6);
}

// ---------------------------------------------------------------------------------------------
// Running gevget

struct Result {
  int code = -1;  // exit status; -1: killed by a signal or still running at the limit
  std::string output;
  std::string json_text;
  std::optional<Json> json;

  // The summary (nullptr when there is none) and its entry for `url`.
  const Json* summary() const { return json ? &*json : nullptr; }
  const Json* download(const std::string& url) const {
    return gev::test::download_entry(summary(), url);
  }
};

std::string tail(const std::string& s, std::size_t n = 3000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

struct Fixture {
  Nginx nginx;
  TempDir work;
  std::string out = work / "out";

  Fixture() {
    // gevget must talk to nginx directly, never through a proxy from the environment.
    for (const char* v :
         {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"}) {
      ::unsetenv(v);
    }
    ::setenv("no_proxy", "*", 1);
  }

  std::string json_path(const std::string& run) const { return work / (run + ".json"); }

  // gevget ARGS plus `--json WORK/RUN.json -H "X-Gevget-Run: RUN"`, started, not waited for.
  std::unique_ptr<ChildProcess> spawn(const std::string& run,
                                      const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {GEVGET_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--json", json_path(run), "-H", "X-Gevget-Run: " + run});
    auto child = std::make_unique<ChildProcess>(argv);
    REQUIRE_MESSAGE(child->started(), "cannot start " << GEVGET_BIN);
    return child;
  }

  Result finish(ChildProcess& child, const std::string& run,
                std::chrono::milliseconds limit = 60s) const {
    Result r;
    r.code = child.wait_exit(limit, pause_briefly);
    r.output = child.output();
    r.json_text = read_file(json_path(run));
    r.json = gev::test::parse_json(r.json_text);
    return r;
  }

  Result run(const std::string& run, const std::vector<std::string>& args,
             std::chrono::milliseconds limit = 60s) const {
    auto child = spawn(run, args);
    return finish(*child, run, limit);
  }

  // Waits (bounded) until FILE exists with at least `bytes` bytes; false if the child ends first.
  static bool wait_for_size(ChildProcess& child, const std::string& file, long long bytes,
                            std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (file_size(file) >= bytes) return true;
      if (child.wait_exit(0ms, pause_briefly) != -1) return false;  // it exited already
      child.pump();
      pause_briefly();
    }
    return false;
  }
};

#define CHECK_RESULT(r, expected_code)                                               \
  do {                                                                               \
    INFO("gevget output:\n" << tail((r).output));                                    \
    INFO("json: " << tail((r).json_text, 1500));                                     \
    CHECK((r).code == (expected_code));                                              \
    CHECK((r).json.has_value());                                                     \
    if ((r).json) CHECK(int_field((r).summary(), "exit_status") == (expected_code)); \
  } while (0)

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("gevget: 1000 small files and 3 large ones from an input file, -j 50") {
  Fixture f;
  Rng rng(1);
  std::map<std::string, std::string> hashes;  // name -> sha256
  std::map<std::string, long long> sizes;
  std::vector<std::string> paths;
  std::string list = "# gevget test list\n\n";
  long long total = 0;
  for (int i = 0; i < 1000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "f%04d.bin", i);
    const std::size_t size = i == 0 ? 0 : 1 + rng.below(20 * 1024);  // one empty file
    hashes[name] = f.nginx.write(std::string("small/") + name, random_bytes(size, rng));
    sizes[name] = static_cast<long long>(size);
    total += static_cast<long long>(size);
    paths.push_back(std::string("/small/") + name);
  }
  for (int i = 0; i < 3; ++i) {
    const std::string name = "large" + std::to_string(i) + ".bin";
    hashes[name] = f.nginx.write(name, random_bytes(16 * kMiB, rng));
    sizes[name] = 16 * kMiB;
    total += 16 * kMiB;
    paths.push_back("/" + name);
  }
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  for (const std::string& path : paths) list += f.nginx.url(path) + "\n";
  write_file(f.work / "list.txt", list);

  const auto t0 = std::chrono::steady_clock::now();
  Result r = f.run("many", {"-i", f.work / "list.txt", "-d", f.out, "-j", "50"});
  MESSAGE(
      "1003 files, " << total << " bytes in "
                     << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                     << " s");
  CHECK_RESULT(r, 0);
  CHECK(int_field(r.summary(), "ok") == 1003);
  CHECK(int_field(r.summary(), "failed") == 0);
  CHECK(int_field(r.summary(), "skipped") == 0);
  CHECK(int_field(r.summary(), "bytes") == total);
  CHECK(array_field(r.summary(), "downloads").size() == 1003);
  int bad_entries = 0;
  for (const Json& entry : array_field(r.summary(), "downloads")) {
    const Json* d = &entry;
    const std::string file = str_field(d, "file");
    const std::string name = file.substr(file.rfind('/') + 1);
    const bool good = str_field(d, "status") == "ok" && sizes.count(name) == 1 &&
                      int_field(d, "bytes") == sizes[name] &&
                      type_field(d, "error") == Json::Type::Null &&
                      int_field(d, "http_status") == 200 && int_field(d, "attempts") == 1;
    if (!good && ++bad_entries <= 5) {
      MESSAGE("unexpected entry: url=" << str_field(d, "url") << " file=" << file
                                       << " status=" << str_field(d, "status")
                                       << " bytes=" << int_field(d, "bytes")
                                       << " http_status=" << int_field(d, "http_status"));
    }
  }
  CHECK(bad_entries == 0);

  // On disk: exactly the 1003 files, each identical, no .part or state left.
  const std::vector<std::string> files = list_tree(f.out);
  CHECK(files.size() == 1003);
  int mismatches = 0;
  for (const auto& [name, hash] : hashes) {
    if (sha256_file(f.out + "/" + name) != hash && ++mismatches <= 5) {
      MESSAGE(name << ": size on disk " << file_size(f.out + "/" + name) << ", expected "
                   << sizes[name]);
    }
  }
  CHECK(mismatches == 0);
  CHECK(file_size(f.out + "/f0000.bin") == 0);
  for (const std::string& name : files) {
    if (hashes.count(name) == 0) FAIL_CHECK("unexpected file in the output: " << name);
  }
  CHECK(f.nginx.log("many").size() >= 1003);
}

TEST_CASE("gevget: resume after kill -9 with -c; without -c the .part restarts from zero") {
  Fixture f;
  Rng rng(2);
  const std::string hash = f.nginx.write("big.bin", random_bytes(64 * kMiB, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  const std::string url = f.nginx.url("/big.bin");
  const std::string final_name = f.out + "/big.bin", part = final_name + ".part";

  auto slow = f.spawn("slow1", {url, "-d", f.out, "--limit-rate", "8M"});
  REQUIRE_MESSAGE(Fixture::wait_for_size(*slow, part, 10 * kMiB),
                  "no growing .part: " << tail(slow->output()));
  ::kill(slow->pid(), SIGKILL);
  CHECK(slow->wait_exit(10s, pause_briefly) == -1);  // killed
  CHECK_FALSE(exists(final_name));
  REQUIRE(exists(part));
  const long long at_kill = file_size(part);
  CHECK(at_kill < static_cast<long long>(64 * kMiB));
  MESSAGE(".part had " << at_kill << " bytes when gevget was killed");

  Result r = f.run("resume", {url, "-d", f.out, "-c"});
  CHECK_RESULT(r, 0);
  CHECK(sha256_file(final_name) == hash);
  CHECK_FALSE(exists(part));
  CHECK_FALSE(exists(part + ".gevget"));
  CHECK(int_field(r.summary(), "ok") == 1);
  const Json* d = r.download(url);
  CHECK(str_field(d, "status") == "ok");
  CHECK(int_field(d, "bytes") > 0);
  CHECK(int_field(d, "bytes") < static_cast<long long>(64 * kMiB));  // only the rest came
  {
    const auto lines = f.nginx.wait_log("resume", "/big.bin", 1);
    MESSAGE("requests of the resumed run:" << describe(lines));
    bool resumed = false;
    for (const LogLine& l : lines) {
      CHECK(l.status != "200");  // never restarted from zero
      if (l.status == "206" && range_start(l) > 0) resumed = true;
    }
    CHECK(resumed);
  }

  // A .part left by a killed run, then a run without -c: restarted from zero, still identical.
  REQUIRE(::unlink(final_name.c_str()) == 0);
  slow = f.spawn("slow2", {url, "-d", f.out, "--limit-rate", "8M"});
  REQUIRE_MESSAGE(Fixture::wait_for_size(*slow, part, 10 * kMiB),
                  "no growing .part: " << tail(slow->output()));
  ::kill(slow->pid(), SIGKILL);
  CHECK(slow->wait_exit(10s, pause_briefly) == -1);
  REQUIRE(exists(part));
  r = f.run("restart", {url, "-d", f.out});
  CHECK_RESULT(r, 0);
  CHECK(sha256_file(final_name) == hash);
  CHECK_FALSE(exists(part));
  CHECK(int_field(r.download(url), "bytes") == static_cast<long long>(64 * kMiB));
  {
    const auto lines = f.nginx.wait_log("restart", "/big.bin", 1);
    MESSAGE("requests of the restarted run:" << describe(lines));
    long long sent = 0;
    for (const LogLine& l : lines) {
      CHECK(range_start(l) <= 0);  // nothing asked from the middle
      sent += l.bytes;
    }
    CHECK(sent >= static_cast<long long>(64 * kMiB));
  }
}

TEST_CASE("gevget: -x 4 splits a large file into ranged requests; a small one stays one stream") {
  Fixture f;
  Rng rng(3);
  const std::string big = f.nginx.write("split.bin", random_bytes(32 * kMiB, rng));
  const std::string small = f.nginx.write("small.bin", random_bytes(1536 * 1024, rng));
  const std::string other = f.nginx.write("other.bin", random_bytes(32 * kMiB, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);

  SUBCASE("32 MB over 4 connections") {
    Result r = f.run("split", {f.nginx.url("/split.bin"), "-d", f.out, "-x", "4"});
    CHECK_RESULT(r, 0);
    CHECK(sha256_file(f.out + "/split.bin") == big);
    CHECK(int_field(r.summary(), "ok") == 1);
    CHECK(int_field(r.summary(), "bytes") == static_cast<long long>(32 * kMiB));
    CHECK(list_tree(f.out) == std::vector<std::string>{"split.bin"});
    const auto lines = f.nginx.wait_log("split", "/split.bin", 2);
    MESSAGE("requests:" << describe(lines));
    int ranged = 0;
    for (const LogLine& l : lines) {
      CHECK(l.status == "206");
      if (l.status == "206" && !l.range.empty()) ++ranged;
    }
    CHECK(ranged >= 2);
    CHECK(lines.size() <= 8);  // about 4 segments, not one request per block
  }
  SUBCASE("1.5 MB (< 2 x --min-split-size) is one stream") {
    Result r = f.run("nosplit", {f.nginx.url("/small.bin"), "-d", f.out, "-x", "4"});
    CHECK_RESULT(r, 0);
    CHECK(sha256_file(f.out + "/small.bin") == small);
    const auto lines = f.nginx.wait_log("nosplit", "/small.bin", 1);
    INFO("requests:" << describe(lines));
    CHECK(lines.size() == 1);
  }
  SUBCASE("32 MB with --min-split-size 20M is one stream") {
    Result r = f.run(
        "minsplit", {f.nginx.url("/other.bin"), "-d", f.out, "-x", "4", "--min-split-size", "20M"});
    CHECK_RESULT(r, 0);
    CHECK(sha256_file(f.out + "/other.bin") == other);
    const auto lines = f.nginx.wait_log("minsplit", "/other.bin", 1);
    INFO("requests:" << describe(lines));
    CHECK(lines.size() == 1);
  }
}

TEST_CASE("gevget: a split download killed with -9 resumes its segments with -c -x 4") {
  Fixture f;
  Rng rng(9);
  const std::string hash = f.nginx.write("seg.bin", random_bytes(64 * kMiB, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  const std::string url = f.nginx.url("/seg.bin");
  const std::string final_name = f.out + "/seg.bin", part = final_name + ".part";

  auto slow = f.spawn("seg-slow", {url, "-d", f.out, "-x", "4", "--limit-rate", "8M"});
  // A split .part has its full size at once: wait for the state file, then ~1.5 s (~12 MB).
  REQUIRE_MESSAGE(Fixture::wait_for_size(*slow, part + ".gevget", 1),
                  "no state file: " << tail(slow->output()));
  for (int i = 0; i < 150 && slow->wait_exit(0ms, pause_briefly) == -1; ++i) pause_briefly();
  ::kill(slow->pid(), SIGKILL);
  CHECK(slow->wait_exit(10s, pause_briefly) == -1);  // killed, not finished
  CHECK_FALSE(exists(final_name));
  REQUIRE(exists(part));
  const auto first = f.nginx.wait_log("seg-slow", "/seg.bin", 2);
  MESSAGE("requests of the killed run:" << describe(first));
  CHECK(first.size() >= 2);  // it did split

  Result r = f.run("seg-resume", {url, "-d", f.out, "-c", "-x", "4"});
  CHECK_RESULT(r, 0);
  CHECK(sha256_file(final_name) == hash);
  CHECK(list_tree(f.out) == std::vector<std::string>{"seg.bin"});
  const Json* d = r.download(url);
  CHECK(int_field(d, "bytes") > 0);
  CHECK(int_field(d, "bytes") < static_cast<long long>(60 * kMiB));  // the segments' rest only
  const auto lines = f.nginx.wait_log("seg-resume", "/seg.bin", 1);
  MESSAGE("requests of the resumed run:" << describe(lines));
  long long sent = 0, mid_segment = 0;
  for (const LogLine& l : lines) {
    CHECK(l.status == "206");
    sent += l.bytes;
    if (range_start(l) > 0 && range_start(l) % (16 * kMiB) != 0) ++mid_segment;
  }
  CHECK(mid_segment >= 1);  // continued inside a segment
  CHECK(sent < static_cast<long long>(60 * kMiB));
}

TEST_CASE("gevget: -c when the file changed on the server restarts from zero (If-Range)") {
  Fixture f;
  Rng rng(10);
  f.nginx.write("chg.bin", random_bytes(32 * kMiB, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  const std::string url = f.nginx.url("/chg.bin");
  const std::string final_name = f.out + "/chg.bin", part = final_name + ".part";

  // Killed early (the first second, ~4 MB at 8M/s) or later (~2 s, ~16 MB): either way the
  // .part must not be continued once the file changed.
  long long kill_at = 0;
  SUBCASE("killed after ~16 MB") {
    kill_at = 16 * kMiB;
  }
  SUBCASE("killed after ~4 MB") {
    kill_at = 4 * kMiB;
  }
  REQUIRE(kill_at > 0);
  auto slow = f.spawn("chg-slow", {url, "-d", f.out, "--limit-rate", "8M"});
  REQUIRE_MESSAGE(Fixture::wait_for_size(*slow, part, kill_at),
                  "no growing .part: " << tail(slow->output()));
  MESSAGE("killed at " << file_size(part) << " bytes; state file: "
                       << std::string(exists(part + ".gevget") ? "yes" : "no"));
  ::kill(slow->pid(), SIGKILL);
  CHECK(slow->wait_exit(10s, pause_briefly) == -1);
  REQUIRE(exists(part));

  // New content of the same size and another mtime: nginx's ETag and Last-Modified change.
  const std::string hash = f.nginx.write("chg.bin", random_bytes(32 * kMiB, rng));
  struct timeval times[2];
  ::gettimeofday(&times[0], nullptr);
  times[0].tv_sec += 100;
  times[1] = times[0];
  REQUIRE(::utimes((f.nginx.dir / "www/chg.bin").c_str(), times) == 0);

  Result r = f.run("chg-resume", {url, "-d", f.out, "-c"});
  CHECK_RESULT(r, 0);
  CHECK(sha256_file(final_name) == hash);  // no stale bytes
  CHECK_FALSE(exists(part));
  const auto lines = f.nginx.wait_log("chg-resume", "/chg.bin", 1);
  MESSAGE("requests:" << describe(lines));
  bool full = false;
  for (const LogLine& l : lines) {
    if (l.status == "200" && l.bytes == static_cast<long long>(32 * kMiB)) full = true;
  }
  CHECK(full);
  CHECK(int_field(r.download(url), "bytes") == static_cast<long long>(32 * kMiB));
}

TEST_CASE("gevget: -c with a .part that is already complete") {
  Fixture f;
  Rng rng(11);
  const std::string data = random_bytes(200000, rng);
  const std::string hash = f.nginx.write("done.bin", data);
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  const std::string url = f.nginx.url("/done.bin");
  ::mkdir(f.out.c_str(), 0755);
  // Killed after the last byte, before the rename (no state file: trusted up to its size).
  write_file(f.out + "/done.bin.part", data);
  Result r = f.run("complete", {url, "-d", f.out, "-c"});
  MESSAGE("requests:" << describe(f.nginx.wait_log("complete", "/done.bin", 1)));
  CHECK_RESULT(r, 0);
  CHECK(sha256_file(f.out + "/done.bin") == hash);
  CHECK(list_tree(f.out) == std::vector<std::string>{"done.bin"});
}

TEST_CASE("gevget: two URLs with one name get NAME and NAME.1; -i - reads standard input") {
  Fixture f;
  Rng rng(12);
  const std::string a = f.nginx.write("a/same.bin", random_bytes(3000, rng));
  const std::string b = f.nginx.write("b/same.bin", random_bytes(4000, rng));
  const std::string c = f.nginx.write("c/other.bin", random_bytes(5000, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  const std::map<std::string, std::string> by_url = {{f.nginx.url("/a/same.bin"), a},
                                                     {f.nginx.url("/b/same.bin"), b},
                                                     {f.nginx.url("/c/other.bin"), c}};
  auto child = f.spawn("stdin", {"-i", "-", "-d", f.out});
  child->write_input("# from stdin\n" + f.nginx.url("/a/same.bin") + "\n\n" +
                     f.nginx.url("/b/same.bin") + "\n" + f.nginx.url("/c/other.bin") +
                     " out=third.bin\n");
  child->close_input();
  Result r = f.finish(*child, "stdin");
  CHECK_RESULT(r, 0);
  CHECK(int_field(r.summary(), "ok") == 3);
  CHECK(list_tree(f.out) == std::vector<std::string>{"same.bin", "same.bin.1", "third.bin"});
  CHECK(sha256_file(f.out + "/same.bin") == a);  // the first in the input keeps the name
  CHECK(sha256_file(f.out + "/same.bin.1") == b);
  CHECK(sha256_file(f.out + "/third.bin") == c);
  for (const auto& [url, hash] : by_url) {  // each entry names the file it wrote
    const Json* d = r.download(url);
    INFO(url << " -> " << str_field(d, "file"));
    CHECK(str_field(d, "status") == "ok");
    const std::string file = str_field(d, "file");
    const std::string name = file.substr(file.rfind('/') + 1);
    CHECK(sha256_file(f.out + "/" + name) == hash);
  }
}

TEST_CASE("gevget: SIGINT stops with 130 and keeps the .part; -c completes it") {
  Fixture f;
  Rng rng(4);
  const std::string hash = f.nginx.write("int.bin", random_bytes(48 * kMiB, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  const std::string url = f.nginx.url("/int.bin");
  const std::string final_name = f.out + "/int.bin", part = final_name + ".part";

  auto child = f.spawn("int", {url, "-d", f.out, "--limit-rate", "4M"});
  REQUIRE_MESSAGE(Fixture::wait_for_size(*child, part, 4 * kMiB),
                  "no growing .part: " << tail(child->output()));
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(child->pid(), SIGINT);
  Result r = f.finish(*child, "int", 10s);
  const double stop_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(stop_seconds < 3.0);  // stops promptly
  CHECK_RESULT(r, 130);
  CHECK_FALSE(exists(final_name));
  CHECK(exists(part));
  CHECK(file_size(part) < static_cast<long long>(48 * kMiB));
  const Json* d = r.download(url);
  CHECK(str_field(d, "status") == "interrupted");
  CHECK(r.output.find("interrupted") != std::string::npos);  // the summary says so

  r = f.run("int-resume", {url, "-d", f.out, "-c"});
  CHECK_RESULT(r, 0);
  CHECK(sha256_file(final_name) == hash);
  CHECK(list_tree(f.out) == std::vector<std::string>{"int.bin"});
  const auto lines = f.nginx.wait_log("int-resume", "/int.bin", 1);
  MESSAGE("requests:" << describe(lines));
  bool resumed = false;
  for (const LogLine& l : lines) {
    CHECK(l.status != "200");
    if (l.status == "206" && range_start(l) > 0) resumed = true;
  }
  CHECK(resumed);
}

TEST_CASE("gevget: an existing file is skipped unless --overwrite") {
  Fixture f;
  Rng rng(5);
  const std::string hash = f.nginx.write("exist.bin", random_bytes(100000, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  const std::string url = f.nginx.url("/exist.bin");
  ::mkdir(f.out.c_str(), 0755);
  write_file(f.out + "/exist.bin", "old content\n");

  Result r = f.run("skip", {url, "-d", f.out});
  CHECK_RESULT(r, 0);
  CHECK(read_file(f.out + "/exist.bin") == "old content\n");
  CHECK(int_field(r.summary(), "skipped") == 1);
  CHECK(int_field(r.summary(), "ok") == 0);
  CHECK(str_field(r.download(url), "status") == "skipped");
  CHECK(list_tree(f.out) == std::vector<std::string>{"exist.bin"});

  r = f.run("overwrite", {url, "-d", f.out, "--overwrite"});
  CHECK_RESULT(r, 0);
  CHECK(sha256_file(f.out + "/exist.bin") == hash);
  CHECK(int_field(r.summary(), "ok") == 1);
  CHECK(int_field(r.summary(), "skipped") == 0);
  CHECK(str_field(r.download(url), "status") == "ok");
  CHECK(list_tree(f.out) == std::vector<std::string>{"exist.bin"});
}

TEST_CASE("gevget: -o, usage errors (exit 2) and a 404 (exit 1)") {
  Fixture f;
  Rng rng(6);
  const std::string hash = f.nginx.write("named.bin", random_bytes(5000, rng));
  f.nginx.write("second.bin", random_bytes(10, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);

  SUBCASE("-o with one URL") {
    const std::string url = f.nginx.url("/named.bin");
    Result r = f.run("o", {url, "-d", f.out, "-o", "renamed.dat"});
    CHECK_RESULT(r, 0);
    CHECK(sha256_file(f.out + "/renamed.dat") == hash);
    CHECK(list_tree(f.out) == std::vector<std::string>{"renamed.dat"});
    CHECK(ends_with(str_field(r.download(url), "file"), "renamed.dat"));
  }
  SUBCASE("usage errors") {
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"-o with two URLs",
         {f.nginx.url("/named.bin"), f.nginx.url("/second.bin"), "-o", "x.bin", "-d", f.out}},
        {"not a URL", {"not a url", "-d", f.out}},
        {"ftp URL", {"ftp://127.0.0.1/named.bin", "-d", f.out}},
        {"no host", {"http:///named.bin", "-d", f.out}},
        {"unknown option", {"--no-such-option", f.nginx.url("/named.bin"), "-d", f.out}},
        {"bad -j", {"-j", "many", f.nginx.url("/named.bin"), "-d", f.out}},
        {"no URL", {"-d", f.out}},
        {"missing input file", {"-i", f.work / "no-such-list.txt", "-d", f.out}},
    };
    for (const auto& [what, args] : cases) {
      INFO(what);
      std::vector<std::string> argv = {GEVGET_BIN};
      argv.insert(argv.end(), args.begin(), args.end());
      ChildProcess child(argv);
      REQUIRE(child.started());
      const int code = child.wait_exit(20s, pause_briefly);
      INFO("output: " << tail(child.output()));
      CHECK(code == 2);
      CHECK_FALSE(child.output().empty());  // says what is wrong
      CHECK(list_tree(f.out).empty());      // nothing downloaded
    }
    CHECK(read_file(f.nginx.dir / "access.log").empty());  // no request reached nginx
  }
  SUBCASE("404") {
    const std::string url = f.nginx.url("/missing.bin");
    Result r = f.run("404", {url, "-d", f.out});
    CHECK_RESULT(r, 1);
    CHECK(r.output.find(url) != std::string::npos);  // the summary names the failed URL
    CHECK(int_field(r.summary(), "failed") == 1);
    CHECK(int_field(r.summary(), "ok") == 0);
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "http_status") == 404);
    CHECK(int_field(d, "attempts") == 1);  // a 404 is not retried
    CHECK(type_field(d, "error") == Json::Type::String);
    CHECK_FALSE(exists(f.out + "/missing.bin"));
    CHECK_MESSAGE(!exists(f.out + "/missing.bin.part"), "a 404 left a .part file");
    CHECK(f.nginx.wait_log("404", "/missing.bin", 1).size() == 1);
  }
}

TEST_CASE("gevget: --checksum sha256") {
  Fixture f;
  Rng rng(7);
  const std::string hash = f.nginx.write("sum.bin", random_bytes(300000, rng));
  const std::string hash2 = f.nginx.write("sum2.bin", random_bytes(200000, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  const std::string url = f.nginx.url("/sum.bin"), url2 = f.nginx.url("/sum2.bin");
  const std::string wrong = sha256("something else");

  SUBCASE("right") {
    Result r = f.run("sum-ok", {url, "-d", f.out, "--checksum", "sha256=" + hash});
    CHECK_RESULT(r, 0);
    CHECK(sha256_file(f.out + "/sum.bin") == hash);
    CHECK(int_field(r.summary(), "ok") == 1);
  }
  SUBCASE("right, upper-case hex") {
    std::string upper = hash;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    Result r = f.run("sum-upper", {url, "-d", f.out, "--checksum", "sha256=" + upper});
    CHECK_RESULT(r, 0);
    CHECK(sha256_file(f.out + "/sum.bin") == hash);
  }
  SUBCASE("wrong") {
    Result r = f.run("sum-bad", {url, "-d", f.out, "--checksum", "sha256=" + wrong});
    CHECK_RESULT(r, 5);
    CHECK_FALSE(exists(f.out + "/sum.bin"));
    CHECK_FALSE(exists(f.out + "/sum.bin.part"));  // a mismatch deletes the .part
    const Json* d = r.download(url);
    CHECK(str_field(d, "status") == "failed");
    CHECK(int_field(d, "attempts") == 1);  // never retried
    CHECK(int_field(r.summary(), "failed") == 1);
  }
  SUBCASE("in the input file: one right, one wrong") {
    write_file(f.work / "list.txt", url + "  sha256=" + hash + "\n" + url2 +
                                        "\tout=renamed2.bin sha256=" + wrong + "\n");
    Result r = f.run("sum-list", {"-i", f.work / "list.txt", "-d", f.out});
    CHECK_RESULT(r, 5);
    CHECK(int_field(r.summary(), "ok") == 1);
    CHECK(int_field(r.summary(), "failed") == 1);
    CHECK(sha256_file(f.out + "/sum.bin") == hash);
    CHECK_FALSE(exists(f.out + "/renamed2.bin"));
    CHECK(list_tree(f.out) == std::vector<std::string>{"sum.bin"});
    (void)hash2;
  }
  SUBCASE("malformed --checksum is a usage error") {
    Result r = f.run("sum-usage", {url, "-d", f.out, "--checksum", "md5=abc"});
    INFO("output: " << tail(r.output));
    CHECK(r.code == 2);
    CHECK_FALSE(exists(f.out + "/sum.bin"));
  }
}

TEST_CASE("gevget: Content-Disposition names are sanitized and stay inside -d") {
  Fixture f;
  Rng rng(8);
  const std::string evil = f.nginx.write("cd/evil/data.bin", random_bytes(1000, rng));
  const std::string abs = f.nginx.write("cd/abs/data.bin", random_bytes(1100, rng));
  const std::string good = f.nginx.write("cd/good/data.bin", random_bytes(1200, rng));
  const std::string utf8 = f.nginx.write("cd/utf8/data.bin", random_bytes(1300, rng));
  REQUIRE_MESSAGE(f.nginx.start(), "nginx did not start: " << f.nginx.error);
  // The output directory is deep inside the sandbox so that `../..` would land in the sandbox.
  const std::string sandbox = f.work / "sandbox";
  const std::string out = sandbox + "/a/b/out";
  ::mkdir(sandbox.c_str(), 0755);
  ::mkdir((sandbox + "/a").c_str(), 0755);
  ::mkdir((sandbox + "/a/b").c_str(), 0755);
  const bool etc_had_it = exists("/etc/gevget-evil.txt");

  Result r =
      f.run("cd", {f.nginx.url("/cd/evil/data.bin"), f.nginx.url("/cd/abs/data.bin"),
                   f.nginx.url("/cd/good/data.bin"), f.nginx.url("/cd/utf8/data.bin"), "-d", out});
  CHECK_RESULT(r, 0);
  CHECK(int_field(r.summary(), "ok") == 4);
  const std::vector<std::string> tree = list_tree(sandbox);
  INFO("sandbox: " << joined(tree));
  for (const std::string& p : tree) {  // nothing outside the output directory
    CHECK_MESSAGE((p == "a" || p == "a/b" || p == "a/b/out" || p.rfind("a/b/out/", 0) == 0),
                  "written outside -d: " << p);
  }
  if (!etc_had_it) CHECK_FALSE(exists("/etc/gevget-evil.txt"));
  const std::vector<std::string> files = list_tree(out);
  CHECK(files.size() == 4);
  for (const std::string& name : files) {
    CHECK(name.find('/') == std::string::npos);
    CHECK(name != "..");
    CHECK(name[0] != '.');
  }
  // The final path component is kept; each file has the right content.
  CHECK(sha256_file(out + "/evil.txt") == evil);
  CHECK(sha256_file(out + "/gevget-evil.txt") == abs);
  CHECK(sha256_file(out + "/report.pdf") == good);
  CHECK(sha256_file(out + "/na\xc3\xafve.txt") == utf8);
  CHECK(ends_with(str_field(r.download(f.nginx.url("/cd/good/data.bin")), "file"), "/report.pdf"));
}
