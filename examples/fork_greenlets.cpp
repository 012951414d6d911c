// fork() from a gev program: the child's hub is re-armed and every greenlet carries on there.
#include <sys/wait.h>
#include <unistd.h>
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

int main() {
  const char* who = "parent";
  auto ticker = gev::spawn([&who] {
    for (int i = 0; i < 3; ++i) {
      gev::sleep(20ms);
      std::printf("%s: tick %d\n", who, i);
    }
  });
  gev::sleep(5ms);  // the ticker is now parked in its first sleep

  std::fflush(stdout);  // or the child inherits unwritten output and prints it twice
  pid_t pid = fork();
  if (pid == 0) {
    who = "child";
    ticker->join();  // the ticker was copied into the child and still runs, on its timers
    std::printf("child: done\n");
    return 0;
  }
  // The parent lets the child finish first (waitpid blocks the whole thread), so the output
  // order is fixed; then its own ticker goes on.
  int status = 0;
  waitpid(pid, &status, 0);
  ticker->join();
  std::printf("parent: child exited with %d\n", WEXITSTATUS(status));
}
