// The blocking monitor: a watchdog thread that reports greenlets that run without yielding.
#include <gev/gev.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

int main() {
  gev::start_blocking_monitor(50ms);  // or GEV_MONITOR=1 GEV_MONITOR_THRESHOLD_MS=50 ./app
  std::printf("monitor running: %d\n", gev::blocking_monitor_running());

  auto polite = gev::spawn({.name = "polite"}, [] {
    for (int i = 0; i < 10; ++i) gev::sleep(20ms);  // yields every 20 ms: never reported
  });
  auto busy = gev::spawn({.name = "busy"}, [] {
    std::this_thread::sleep_for(200ms);  // blocks the whole hub: reported on stderr
  });
  gev::joinall({polite, busy});

  gev::stop_blocking_monitor();
  std::printf("monitor running: %d\n", gev::blocking_monitor_running());
}
