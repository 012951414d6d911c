// Signal handlers do not keep the loop alive: waiting only for one raises LoopExit in main.
#include <signal.h>
#include <unistd.h>
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

int main() {
  gev::Event stop;
  auto handler = gev::signal_handler(SIGTERM, [&stop] { stop.set(); });

  // Nothing else can happen: gev does not hang forever here, it raises LoopExit.
  try {
    stop.wait();
  } catch (const gev::LoopExit&) {
    std::printf("LoopExit: only a signal handler could wake main\n");
  }

  // Holding a KeepAlive says "work will come from outside": now main really waits.
  gev::spawn([] {
    gev::sleep(20ms);
    kill(getpid(), SIGTERM);  // as if `kill PID` were run in a shell
  });
  {
    gev::Hub::KeepAlive expecting_a_signal;
    stop.wait();
  }
  std::printf("SIGTERM arrived, main stops\n");
  handler.cancel();
}
