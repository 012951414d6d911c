// The seed's `gevent.signal(signal.SIGQUIT, gevent.shutdown)`: SIGQUIT unwinds every greenlet.
#include <signal.h>
#include <unistd.h>
#include <gev/gev.hpp>

#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

int g_unwound = 0;

struct Download {  // RAII: a half-written file removed, a connection closed, ...
  ~Download() { ++g_unwound; }
};

void press_ctrl_backslash(gev::Duration after) {  // as if someone pressed Ctrl-\ .
  gev::spawn([after] {
    gev::sleep(after);
    kill(getpid(), SIGQUIT);
  });
}

int main() {
  gev::signal_handler(SIGQUIT, gev::shutdown);  // the handler runs in a new greenlet

  std::vector<std::shared_ptr<gev::Greenlet<void>>> workers;
  for (int i = 0; i < 100; ++i) {
    workers.push_back(gev::spawn([] {
      Download d;
      gev::sleep(1h);  // a download that hangs
    }));
  }
  press_ctrl_backslash(20ms);
  gev::joinall(workers);  // returns: shutdown killed every worker
  std::printf("joinall returned; %d downloads unwound\n", g_unwound);

  // When main waits on something else, shutdown ends that wait with GreenletExit. Uncaught, it
  // would exit with status 0 without running the destructors of main's locals: catch it.
  press_ctrl_backslash(20ms);
  try {
    gev::sleep(24h);  // the program's own work
  } catch (const gev::GreenletExit&) {
    std::printf("main's sleep ended by GreenletExit: shut down by SIGQUIT\n");
  }
}
