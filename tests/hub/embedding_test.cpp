// Embedding: a hub living in a plain std::thread that has its own main loop, driven step by step
// with run_once() (one non-blocking turn) and run_for(d). Greenlets make progress across steps,
// and the thread's exit unwinds whatever is still parked there.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <gev/gev.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Runs body on a new std::thread (which gets its own hub) and waits for it.
template <class F>
void in_thread(F body) {
  std::thread t(body);
  t.join();
}

}  // namespace

TEST_CASE("run_once with nothing to do returns promptly") {
  double took = -1;
  bool threw = false;
  in_thread([&] {
    auto& hub = gev::get_hub();
    const auto t0 = Clock::now();
    try {
      for (int i = 0; i < 1000; ++i) hub.run_once();
    } catch (...) {
      threw = true;
    }
    took = seconds_since(t0);
  });
  CHECK_FALSE_MESSAGE(threw, "run_once on an idle hub threw (LoopExit?)");
  CHECK_MESSAGE(took < 2.0, "1000 idle run_once() calls took " << took << " s");
}

TEST_CASE("run_once does not wait for a far timer") {
  double took = -1;
  bool started = false;
  bool finished = false;
  in_thread([&] {
    auto& hub = gev::get_hub();
    auto g = gev::spawn([&] {
      started = true;
      gev::sleep(1h);
      finished = true;
    });
    const auto t0 = Clock::now();
    for (int i = 0; i < 10; ++i) hub.run_once();
    took = seconds_since(t0);
    CHECK(g->kill());
  });
  CHECK(started);
  CHECK_FALSE(finished);
  CHECK_MESSAGE(took < 2.0, "run_once blocked on a 1 h timer for " << took << " s");
}

TEST_CASE("a greenlet progresses across run_once steps of a foreign main loop") {
  constexpr int kTicks = 5;
  std::vector<int> ticks_seen_per_step;
  bool spawned_ran_synchronously = true;
  bool done = false;
  in_thread([&] {
    auto& hub = gev::get_hub();
    int ticks = 0;
    auto g = gev::spawn([&] {
      for (int i = 0; i < kTicks; ++i) {
        ++ticks;
        gev::sleep(2ms);
      }
    });
    spawned_ran_synchronously = ticks != 0;
    // The "existing main loop": do our own work, then give the hub one step.
    const auto deadline = Clock::now() + 10s;
    for (int step = 0; step < 5000 && !g->ready() && Clock::now() < deadline; ++step) {
      hub.run_once();
      ticks_seen_per_step.push_back(ticks);
      std::this_thread::sleep_for(1ms);
    }
    done = g->ready();
  });
  CHECK_FALSE(spawned_ran_synchronously);
  REQUIRE(done);
  REQUIRE_FALSE(ticks_seen_per_step.empty());
  CHECK_MESSAGE(ticks_seen_per_step.front() >= 1, "the first run_once did not start the greenlet");
  CHECK(ticks_seen_per_step.back() == kTicks);
  // Progress happened in several steps, not all inside one run_once call.
  CHECK_MESSAGE(ticks_seen_per_step.size() >= 2,
                "run_once ran the whole greenlet (" << kTicks << " 2 ms sleeps) in one call");
  for (std::size_t i = 1; i < ticks_seen_per_step.size(); ++i) {
    CHECK(ticks_seen_per_step[i] >= ticks_seen_per_step[i - 1]);
  }
}

TEST_CASE("run_once delivers posts from other threads") {
  int ran = 0;
  in_thread([&] {
    auto& hub = gev::get_hub();
    std::thread poster([&] {
      for (int i = 0; i < 100; ++i) hub.post([&] { ++ran; });
    });
    poster.join();
    for (int step = 0; step < 1000 && ran < 100; ++step) {
      hub.run_once();
      std::this_thread::sleep_for(100us);
    }
  });
  CHECK(ran == 100);
}

TEST_CASE("run_for lets greenlets run for a while, then returns") {
  int ticks_after_first = -1;
  int ticks_after_second = -1;
  double first_took = -1;
  in_thread([&] {
    auto& hub = gev::get_hub();
    int ticks = 0;
    auto g = gev::spawn([&] {
      for (int i = 0; i < 100'000; ++i) {
        ++ticks;
        gev::sleep(2ms);
      }
    });
    const auto t0 = Clock::now();
    hub.run_for(50ms);
    first_took = seconds_since(t0);
    ticks_after_first = ticks;
    hub.run_for(30ms);
    ticks_after_second = ticks;
    CHECK(g->kill());
  });
  CHECK_MESSAGE(ticks_after_first >= 2, "only " << ticks_after_first << " ticks in run_for(50ms)");
  CHECK(ticks_after_second > ticks_after_first);
  CHECK_MESSAGE(first_took >= 0.045, "run_for(50ms) returned after " << first_took << " s");
  CHECK_MESSAGE(first_took < 5.0, "run_for(50ms) returned after " << first_took << " s");
}

TEST_CASE("run_for with nothing to do neither raises LoopExit nor returns early") {
  double took = -1;
  bool threw = false;
  in_thread([&] {
    const auto t0 = Clock::now();
    try {
      gev::get_hub().run_for(30ms);
    } catch (...) {
      threw = true;
    }
    took = seconds_since(t0);
  });
  CHECK_FALSE(threw);
  CHECK(took >= 0.025);
  CHECK(took < 5.0);
}

TEST_CASE("a thread's exit unwinds the greenlets still parked in its hub") {
  struct Guard {
    std::atomic<int>* destroyed;
    ~Guard() { ++*destroyed; }
  };
  std::atomic<int> destroyed{0};
  int started = 0;
  in_thread([&] {
    auto& hub = gev::get_hub();
    for (int i = 0; i < 3; ++i) {
      gev::spawn([&] {
        Guard g{&destroyed};
        ++started;
        gev::sleep(1h);
      });
    }
    gev::spawn([&] {
      Guard g{&destroyed};
      ++started;
      gev::get_hub().park("parked forever");
    });
    hub.run_once();
    // Returning destroys this thread's hub with four greenlets parked.
  });
  CHECK(started == 4);
  CHECK_MESSAGE(destroyed == 4, "only " << destroyed.load() << " of 4 parked greenlets unwound");
}

TEST_CASE("a greenlet never started when its thread exits never runs") {
  bool ran = false;
  in_thread([&] {
    auto& hub = gev::get_hub();
    gev::spawn([&] { ran = true; });
    (void)hub;
  });
  CHECK_FALSE(ran);
}

TEST_CASE("two greenlets calling run_once at the same time: neither is lost") {
  std::size_t finished = 0;
  int errors = 0;
  int wrong_errors = 0;
  in_thread([&] {
    auto& hub = gev::get_hub();
    auto stepper = [&] {
      for (int i = 0; i < 10; ++i) {
        try {
          hub.run_once();
        } catch (const gev::ConcurrentObjectUseError&) {
          ++errors;
          gev::sleep(0s);
        } catch (...) {
          ++wrong_errors;
        }
      }
    };
    auto a = gev::spawn(stepper);
    auto b = gev::spawn(stepper);
    finished = gev::joinall({a, b}, 10s).size();
    if (finished != 2) gev::killall({a, b});
  });
  CHECK_MESSAGE(finished == 2, "a greenlet waiting in run_once was never resumed");
  CHECK(wrong_errors == 0);
  MESSAGE(errors << " concurrent run_once calls were refused");
}
