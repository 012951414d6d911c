// Helpers shared by the tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

namespace gev::test {

// A non-blocking pipe, closed on destruction.
struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) std::abort();
    r = fds[0];
    w = fds[1];
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
};

struct ChildResult {
  int status = 0;      // raw waitpid status
  std::string output;  // the child's stdout and stderr, interleaved
  bool exited() const { return WIFEXITED(status); }
  int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
  bool signaled() const { return WIFSIGNALED(status); }
  int signal() const { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }
};

// Runs `body` in a forked child whose stdout/stderr are captured; the child exits with body's
// return value (or dies of a signal). `on_output(pid, output_so_far)` runs in the parent each
// time output arrives (e.g. to send a signal once the child printed "ready"). The child is
// killed with SIGKILL if it outlives `limit`.
inline ChildResult run_in_child(
    const std::function<int()>& body,
    const std::function<void(pid_t, const std::string&)>& on_output = {},
    std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::fflush(stdout);
  std::fflush(stderr);
  int out[2];
  if (pipe(out) != 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    close(out[1]);
    int rc = body();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(rc);
  }
  close(out[1]);
  ChildResult r;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  char buf[4096];
  for (;;) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n > 0) {
      r.output.append(buf, static_cast<size_t>(n));
      if (on_output) on_output(pid, r.output);
      continue;
    }
    if (n == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      break;
    }
    usleep(2000);
  }
  close(out[0]);
  waitpid(pid, &r.status, 0);
  return r;
}

}  // namespace gev::test
