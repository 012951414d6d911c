// signal_handler runs a greenlet per signal (it may block); wait_signal waits for one.
#include <signal.h>
#include <unistd.h>
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

int main() {
  int reloads = 0;
  auto handler = gev::signal_handler(SIGHUP, [&reloads] {
    gev::sleep(10ms);  // a greenlet: it may sleep, join, do I/O
    std::printf("SIGHUP #%d handled\n", ++reloads);
  });

  kill(getpid(), SIGHUP);
  gev::sleep(50ms);
  kill(getpid(), SIGHUP);
  gev::sleep(50ms);

  // A handler does not keep the loop alive: with nothing else to do, gev::wait() returns.
  gev::wait();
  std::printf("wait() returned with the handler still installed: %d\n", handler.active());
  handler.cancel();  // the previous disposition of SIGHUP comes back

  // To block until a signal arrives, wait_signal keeps the loop alive while it waits.
  gev::spawn([] {
    gev::sleep(20ms);
    kill(getpid(), SIGUSR1);
  });
  bool got = gev::wait_signal(SIGUSR1, 1s);
  std::printf("wait_signal(SIGUSR1): %d\n", got);
  std::printf("wait_signal(SIGUSR2, 10ms): %d\n", gev::wait_signal(SIGUSR2, 10ms));
}
