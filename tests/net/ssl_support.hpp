// Helpers for the TLS tests (not a test file itself: no _test suffix): a throwaway PKI made with
// the openssl command-line tool, and child processes (openssl s_server / s_client) that are
// always killed. Plain POSIX, no hub needed: waiting loops take a `pause` function (gev::sleep in
// a hub, usleep elsewhere) and are bounded in time.
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace gev::test {

// Runs `command` with /bin/sh, blocking; returns its exit code, its output in *output.
inline int run_shell(const std::string& command, std::string* output = nullptr) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  std::string out;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A certificate authority, certificates and keys in a temporary directory (removed at exit).
struct TestPki {
  std::string dir;
  std::string ca;                                 // the root CA the clients trust
  std::string server_cert, server_key;            // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  std::string expired_cert, expired_key;          // the same names, valid only in January 2020
  std::string self_signed_cert, self_signed_key;  // the same names, signed by itself
  std::string unknown_ca_cert, unknown_ca_key;    // the same names, signed by another CA
  std::string client_cert, client_key;            // CN=gev test client, for mutual TLS
  std::string error;                              // why generation failed, if it did

  ~TestPki() {
    if (dir.empty() || dir.rfind("/tmp/", 0) != 0) return;
    nftw(
        dir.c_str(),
        [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
};

// Fills `p` (about a dozen openssl runs); p.error says what went wrong, if anything.
inline void build_test_pki(TestPki& p) {
  char tmpl[] = "/tmp/gev-tls-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    p.error = "mkdtemp failed";
    return;
  }
  p.dir = tmpl;
  auto f = [&](const char* name) { return p.dir + "/" + name; };
  p.ca = f("ca.pem");
  p.server_cert = f("server.pem");
  p.server_key = f("server.key");
  p.expired_cert = f("expired.pem");
  p.expired_key = f("expired.key");
  p.self_signed_cert = f("self.pem");
  p.self_signed_key = f("self.key");
  p.unknown_ca_cert = f("unknown.pem");
  p.unknown_ca_key = f("unknown.key");
  p.client_cert = f("client.pem");
  p.client_key = f("client.key");
  // EC keys: fast to generate. `openssl ca` can back-date (-startdate/-enddate), which
  // `openssl x509` cannot in OpenSSL 3.0.
  const std::string script = R"(set -e
cd ")" + p.dir + R"("
K="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
CA_EXT="-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
openssl req -x509 $K -keyout ca.key -out ca.pem -days 3650 -subj "/CN=gev test CA" $CA_EXT
openssl req -x509 $K -keyout other-ca.key -out other-ca.pem -days 3650 -subj "/CN=gev other CA" $CA_EXT
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > client.ext
for name in server expired unknown; do
openssl req -new $K -keyout $name.key -out $name.csr -subj "/CN=localhost"
done
openssl req -new $K -keyout client.key -out client.csr -subj "/CN=gev test client"
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 365 -extfile server.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 365 -extfile client.ext
openssl x509 -req -in unknown.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -out unknown.pem -days 365 -extfile server.ext
mkdir -p newcerts && : > index.txt && echo 1000 > serial
printf '[ca]\ndefault_ca=test_ca\n[test_ca]\ndatabase=index.txt\nnew_certs_dir=newcerts\nserial=serial\ndefault_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n' > ca.cnf
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem -startdate 20200101000000Z -enddate 20200131000000Z -extfile server.ext -notext
openssl req -x509 $K -keyout self.key -out self.pem -days 365 -subj "/CN=localhost" -addext subjectAltName=DNS:localhost,IP:127.0.0.1
)";
  const std::string script_path = f("make-pki.sh");
  FILE* file = fopen(script_path.c_str(), "w");
  if (file == nullptr) {
    p.error = "cannot write " + script_path;
    return;
  }
  fputs(script.c_str(), file);
  fclose(file);
  std::string output;
  if (run_shell("sh " + script_path, &output) != 0) p.error = "openssl failed: " + output;
}

// Built once per process, the first time it is asked for; removed at exit.
inline const TestPki& test_pki() {
  static TestPki pki;
  static const bool built = (build_test_pki(pki), true);
  (void)built;
  return pki;
}

// A loopback TCP port that was free a moment ago (for a child process to listen on).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// A child process with a pipe on its stdin and one on its stdout+stderr; killed (SIGKILL) and
// reaped by the destructor whatever happened.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return;
    if (pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    fcntl(out_, F_SETFL, O_NONBLOCK);
    if (rc == 0) pid_ = pid;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
    }
    close_input();
    if (out_ >= 0) ::close(out_);
  }

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

  bool write_input(std::string_view data) {
    while (!data.empty() && in_ >= 0) {
      ssize_t n = ::write(in_, data.data(), data.size());
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return data.empty();
  }
  void close_input() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  // Appends whatever output is available now; false once the output is at its end.
  bool pump() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n > 0) {
        output_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      return n < 0;  // 0: EOF; -1: EAGAIN (more may come)
    }
  }

  // Waits until the output contains `needle` (true) or `limit` passes or the output ends.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds limit,
                       const std::function<void()>& pause) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const bool more = pump();
      if (output_.find(needle) != std::string::npos) return true;
      if (!more || std::chrono::steady_clock::now() > deadline) return false;
      pause();
    }
  }

  // Waits for the process to exit; its exit code, or -1 (signalled, or still running at `limit`).
  int wait_exit(std::chrono::milliseconds limit, const std::function<void()>& pause) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exited_) {
      pump();
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        exited_ = true;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      pause();
    }
    pump();
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string output_;
};

// `openssl s_server` on 127.0.0.1 with the test server certificate, listening when this
// returns (a fresh port is tried a few times if another process took it). nullptr if it would
// not start; *port gets the port.
inline std::unique_ptr<ChildProcess> start_s_server(const TestPki& pki,
                                                    const std::vector<std::string>& extra,
                                                    const std::function<void()>& pause, int* port,
                                                    std::string* log = nullptr) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int p = free_port();
    std::vector<std::string> argv = {
        "openssl", "s_server",      "-accept", "127.0.0.1:" + std::to_string(p),
        "-cert",   pki.server_cert, "-key",    pki.server_key};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto server = std::make_unique<ChildProcess>(argv);
    if (server->started() && server->wait_for_output("ACCEPT", std::chrono::seconds(10), pause)) {
      *port = p;
      return server;
    }
    if (log) *log += server->output();
  }
  return nullptr;
}

}  // namespace gev::test
