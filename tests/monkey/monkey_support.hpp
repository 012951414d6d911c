// Helpers shared by the monkey-patching tests (not a test file itself: no _test suffix).
#pragma once

#include <chrono>
#include <memory>

#include <gev/gev.hpp>

namespace gev::test {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Counts turns of a greenlet that sleeps 2 ms at a time while the Ticker lives: proof that
// other greenlets ran while one was parked in a hook (a hook that blocked the thread would
// leave the count where it was).
struct Ticker {
  long ticks = 0;
  bool stop = false;
  std::shared_ptr<gev::Greenlet<void>> g = gev::spawn([this] {
    using namespace std::chrono_literals;
    while (!stop) {
      ++ticks;
      gev::sleep(2ms);
    }
  });
  Ticker() = default;
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  ~Ticker() {
    using namespace std::chrono_literals;
    stop = true;
    g->join(1s);
  }
};

}  // namespace gev::test
