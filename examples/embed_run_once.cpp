// Hosting gev in a program with its own main loop: run_once() steps the hub, run_for() lends it
// time.
#include <unistd.h>
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

int main() {
  auto ticker = gev::spawn([] {
    for (int i = 0; i < 3; ++i) {
      std::printf("tick %d\n", i);
      gev::sleep(10ms);
    }
  });

  // The host's loop: one non-blocking gev turn per frame, then the host's own work.
  int frames = 0;
  while (!ticker->ready()) {
    gev::get_hub().run_once();  // runs what is ready, polls timers and fds without waiting
    usleep(1000);               // stands for rendering a frame, polling another library, ...
    ++frames;
  }
  std::printf("ticker done; the host loop ran meanwhile: %s\n", frames > 3 ? "yes" : "no");

  // run_for(d): main is parked for d while the hub runs everything, like sleep(d).
  auto other = gev::spawn([] { std::printf("runs during run_for\n"); });
  gev::get_hub().run_for(5ms);
  std::printf("other finished: %d\n", other->ready());
}
