// `make demo`: a tour of what the foundation of gev does, in about two seconds.
//   1. 10,000 greenlets each sleep 100 ms: they sleep at the same time, not one after another.
//   2. The seed's curl-download shape: a Timeout around joinall of slow jobs prints
//      "timeout!!" (300 ms here instead of the seed's 3 s).
//   3. The seed's SIGQUIT -> shutdown: 1,000 blocked greenlets are unwound (every RAII
//      destructor runs) when the process receives SIGQUIT.
//   4. Waiting on something nothing can wake raises gev::LoopExit instead of hanging.
#include <signal.h>
#include <unistd.h>
#include <gev/gev.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

static void many_sleepers() {
  constexpr int kGreenlets = 10'000;
  auto t0 = Clock::now();
  std::vector<std::shared_ptr<gev::Greenlet<int>>> sleepers;
  sleepers.reserve(kGreenlets);
  for (int i = 0; i < kGreenlets; ++i) {
    sleepers.push_back(gev::spawn([i] {
      gev::sleep(100ms);
      return i;
    }));
  }
  long sum = 0;
  for (auto& g : gev::joinall(sleepers)) sum += static_cast<gev::Greenlet<int>&>(*g).get();
  std::printf(
      "1. %d greenlets slept 100 ms each in %.2f s of wall time (one after another: %d s); "
      "sum of results %ld\n",
      kGreenlets, seconds_since(t0), kGreenlets / 10, sum);
}

// [timeout-joinall]
static void timeout_around_joinall() {
  auto t0 = Clock::now();
  std::vector<std::shared_ptr<gev::Greenlet<void>>> downloads;
  for (gev::Duration delay : {50ms, 100ms, 10000ms}) {  // the last "download" hangs
    downloads.push_back(gev::spawn([delay] { gev::sleep(delay); }));
  }
  gev::Timeout timeout{300ms, gev::Timeout::deferred};
  timeout.start();
  try {
    gev::joinall(downloads);
    std::puts("2. all downloads finished");
  } catch (const gev::Timeout& e) {
    if (!e.is(timeout)) throw;
    std::printf("2. timeout!! (after %.2f s; %zu of %zu jobs had finished)\n", seconds_since(t0),
                static_cast<size_t>(std::count_if(downloads.begin(), downloads.end(),
                                                  [](auto& g) { return g->ready(); })),
                downloads.size());
  }
  gev::killall(downloads);
}
// [timeout-joinall]

static int g_destructors = 0;

static void sigquit_shutdown() {
  struct Cleanup {
    ~Cleanup() { ++g_destructors; }
  };
  auto handler = gev::signal_handler(SIGQUIT, gev::shutdown);
  std::vector<std::shared_ptr<gev::Greenlet<void>>> blocked;
  for (int i = 0; i < 1000; ++i) {
    blocked.push_back(gev::spawn([] {
      Cleanup cleanup;
      gev::sleep(1h);  // would block for an hour
    }));
  }
  gev::spawn([] {
    gev::sleep(100ms);
    kill(getpid(), SIGQUIT);  // as if someone pressed Ctrl-\ .
  });
  auto t0 = Clock::now();
  gev::joinall(blocked);
  int killed = static_cast<int>(std::count_if(blocked.begin(), blocked.end(), [](auto& g) {
    return g->successful() && g->exception() != nullptr;
  }));
  std::printf(
      "3. SIGQUIT -> gev::shutdown: %d of 1000 blocked greenlets got GreenletExit, "
      "%d RAII destructors ran, %.2f s after the signal was scheduled\n",
      killed, g_destructors, seconds_since(t0));
  handler.cancel();
}

static void loop_exit() {
  auto forgotten = gev::spawn([] { gev::get_hub().park("a wait nobody will end"); });
  try {
    forgotten->join();
  } catch (const gev::LoopExit& e) {
    std::printf("4. instead of hanging forever: %.160s...\n", e.what());
  }
  forgotten->kill();
}

int main() {
  std::puts("gev demo: greenlets on a libev hub, one OS thread.");
  many_sleepers();
  timeout_around_joinall();
  sigquit_shutdown();
  loop_exit();
  std::puts("demo done.");
}
