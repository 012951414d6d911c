// The hot path allocates nothing: once warm, sleep(0) yields, park/unpark cycles, short timed
// sleeps and fd waits make no heap allocation. Global operator new/delete are replaced in this
// executable to count allocations (the gev shared libraries bind to these definitions too).
//
// Counting happens inside greenlets, between two snapshots, with no doctest macro in between
// (doctest itself allocates).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <gev/gev.hpp>
#include <new>
#include <string>
#include <vector>

using namespace std::chrono_literals;

#include "alloc_counter.hpp"

TEST_CASE("the allocation counter sees allocations made inside the gev libraries") {
  auto g = gev::spawn(gev::SpawnOptions{.name = "a name too long for small-string storage"},
                      [] { gev::sleep(0s); });
  gev::sleep(0s);  // g is parked in sleep(0)
  const long before = allocations();
  const std::string text = gev::get_hub().describe_fibers();  // built inside libgev_hub
  const long after = allocations();
  g->join();
  CHECK(text.find("a name too long") != std::string::npos);
  CHECK_MESSAGE(after > before,
                "operator new replacement is not in effect; the other checks would prove nothing");
}

TEST_CASE("10k sleep(0) yields between two greenlets allocate nothing") {
  constexpr int kWarm = 1000;
  constexpr int kMeasured = 10'000;
  long before = -1;
  long after = -1;
  bool measuring_done = false;
  int b_yields = 0;
  auto a = gev::spawn([&] {
    for (int i = 0; i < kWarm; ++i) gev::sleep(0s);
    before = allocations();
    for (int i = 0; i < kMeasured; ++i) gev::sleep(0s);
    after = allocations();
    measuring_done = true;
  });
  auto b = gev::spawn([&] {
    for (int i = 0; i < 10 * (kWarm + kMeasured) && !measuring_done; ++i) {
      gev::sleep(0s);
      ++b_yields;
    }
  });
  a->join();
  b->join();
  REQUIRE(measuring_done);
  CHECK_MESSAGE(b_yields >= kMeasured, "the other greenlet only yielded " << b_yields << " times");
  CHECK_MESSAGE(after - before == 0,
                kMeasured << " yields made " << (after - before) << " allocations");
}

TEST_CASE("10k park/unpark cycles allocate nothing") {
  constexpr int kWarm = 1000;
  constexpr int kMeasured = 10'000;
  auto& hub = gev::get_hub();
  int wakeups = 0;
  bool stop = false;
  long before = -1;
  long after = -1;
  auto parker = gev::spawn([&] {
    while (!stop) {
      gev::get_hub().park("allocation test");
      ++wakeups;
    }
  });
  auto unparker = gev::spawn([&] {
    for (int i = 0; i < kWarm; ++i) {
      hub.unpark(*parker);
      gev::sleep(0s);
    }
    const int wakeups_before = wakeups;
    before = allocations();
    for (int i = 0; i < kMeasured; ++i) {
      hub.unpark(*parker);
      gev::sleep(0s);  // the parker runs (and parks again) before we come back
    }
    after = allocations();
    wakeups -= wakeups_before;  // count only the measured cycles
    stop = true;
    hub.unpark(*parker);
  });
  unparker->join();
  parker->join();
  CHECK_MESSAGE(wakeups - 1 == kMeasured,
                "the parker woke " << wakeups - 1 << " times, expected " << kMeasured);
  CHECK_MESSAGE(after - before == 0,
                kMeasured << " park/unpark cycles made " << (after - before) << " allocations");
}

TEST_CASE("1000 short sleeps allocate nothing once warm") {
  constexpr int kGreenlets = 4;
  constexpr int kSleepsEach = 250;  // 1000 in all
  auto& hub = gev::get_hub();
  int at_gate = 0;
  int slept = 0;
  gev::GreenletList gs;
  for (int g = 0; g < kGreenlets; ++g) {
    gs.push_back(gev::spawn([&] {
      for (int i = 0; i < 20; ++i) gev::sleep(1us);  // warm up the timer heap
      ++at_gate;
      gev::get_hub().park("gate");
      for (int i = 0; i < kSleepsEach; ++i) {
        gev::sleep(1us);
        ++slept;
      }
    }));
  }
  for (int i = 0; i < 10'000 && at_gate < kGreenlets; ++i) gev::sleep(1ms);
  REQUIRE(at_gate == kGreenlets);
  const long before = allocations();
  for (auto& g : gs) hub.unpark(*g);
  for (auto& g : gs) g->join();
  const long after = allocations();
  CHECK(slept == kGreenlets * kSleepsEach);
  CHECK_MESSAGE(after - before == 0,
                kGreenlets * kSleepsEach << " sleeps made " << (after - before) << " allocations");
}

TEST_CASE("1000 short sleeps in the main greenlet allocate nothing once warm") {
  for (int i = 0; i < 20; ++i) gev::sleep(1us);
  const long before = allocations();
  for (int i = 0; i < 1000; ++i) gev::sleep(1us);
  const long after = allocations();
  CHECK_MESSAGE(after - before == 0, "1000 sleeps made " << (after - before) << " allocations");
}

TEST_CASE("1000 wait_fd round trips over a pipe allocate nothing once warm") {
  constexpr int kWarm = 50;
  constexpr int kMeasured = 1000;
  int fds[2];
  REQUIRE(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
  long before = -1;
  long after = -1;
  int received = 0;
  int bad = 0;
  auto reader = gev::spawn([&] {
    char c;
    for (int i = 0; i < kWarm + kMeasured; ++i) {
      if (i == kWarm) before = allocations();
      if (gev::wait_fd(fds[0], EV_READ, 10s) != EV_READ) ++bad;
      if (read(fds[0], &c, 1) == 1) ++received;
    }
    after = allocations();
  });
  auto writer = gev::spawn([&] {
    for (int i = 0; i < kWarm + kMeasured; ++i) {
      if (write(fds[1], "x", 1) != 1) ++bad;
      gev::sleep(0s);  // let the reader drain it
    }
  });
  writer->join();
  reader->join();
  close(fds[0]);
  close(fds[1]);
  CHECK(bad == 0);
  CHECK(received == kWarm + kMeasured);
  CHECK_MESSAGE(after - before == 0,
                kMeasured << " fd waits made " << (after - before) << " allocations");
}
