// Scheduling: spawn is never synchronous, the ready queue is FIFO, sleep(0) yields to every other
// ready greenlet, and a long run of ready greenlets (sleep(0) loops) cannot starve timers, fd
// readiness or cross-thread posts. Plus a bulk spawn/join of 100k greenlets.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <gev/gev.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

using gev::test::Pipe;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

TEST_CASE("spawn is never synchronous") {
  bool ran = false;
  auto g = gev::spawn([&] { ran = true; });
  CHECK_MESSAGE(!ran, "spawn() ran the greenlet before the caller blocked");
  CHECK(g->started());
  CHECK_FALSE(g->ready());
  CHECK(g->join());
  CHECK(ran);
  CHECK(g->ready());
  CHECK(g->successful());
}

TEST_CASE("spawn from inside a greenlet is not synchronous either") {
  std::vector<std::string> log;
  auto outer = gev::spawn([&] {
    auto inner = gev::spawn([&] { log.push_back("inner ran"); });
    log.push_back("outer after spawn");
    inner->join();
    log.push_back("outer after join");
  });
  outer->join();
  CHECK(log == std::vector<std::string>{"outer after spawn", "inner ran", "outer after join"});
}

TEST_CASE("ready greenlets run in FIFO (spawn) order") {
  constexpr int kCount = 50;
  std::vector<int> order;
  gev::GreenletList gs;
  for (int i = 0; i < kCount; ++i) gs.push_back(gev::spawn([&order, i] { order.push_back(i); }));
  CHECK(order.empty());
  gev::joinall(gs);
  REQUIRE(order.size() == kCount);
  int out_of_order = 0;
  for (int i = 0; i < kCount; ++i) out_of_order += order[i] != i;
  CHECK_MESSAGE(out_of_order == 0, "greenlets did not start in the order they were spawned");
}

TEST_CASE("sleep(0) in main lets every ready greenlet run before main resumes") {
  int ran = 0;
  gev::GreenletList gs;
  for (int i = 0; i < 5; ++i) gs.push_back(gev::spawn([&] { ++ran; }));
  gev::sleep(0s);
  CHECK_MESSAGE(ran == 5, "main resumed from sleep(0) before all ready greenlets had run");
  gev::joinall(gs);
}

TEST_CASE("sleep(0) in a greenlet lets greenlets it spawned run first") {
  std::vector<std::string> log;
  auto a = gev::spawn([&] {
    auto b = gev::spawn([&] { log.push_back("b"); });
    auto c = gev::spawn([&] { log.push_back("c"); });
    log.push_back("a before sleep(0)");
    gev::sleep(0s);
    log.push_back("a after sleep(0)");
    b->join();
    c->join();
  });
  a->join();
  CHECK(log == std::vector<std::string>{"a before sleep(0)", "b", "c", "a after sleep(0)"});
}

TEST_CASE("sleep(0) loops interleave strictly round-robin") {
  constexpr int kGreenlets = 4;
  constexpr int kRounds = 500;  // enough to cross several switch intervals under ASan
  std::vector<int> seq;
  seq.reserve(kGreenlets * kRounds);
  gev::GreenletList gs;
  for (int id = 0; id < kGreenlets; ++id) {
    gs.push_back(gev::spawn([&seq, id] {
      for (int r = 0; r < kRounds; ++r) {
        seq.push_back(id);
        gev::sleep(0s);
      }
    }));
  }
  gev::joinall(gs);
  REQUIRE(seq.size() == static_cast<std::size_t>(kGreenlets * kRounds));
  std::size_t first_bad = seq.size();
  for (std::size_t i = 0; i < seq.size(); ++i) {
    if (seq[i] != static_cast<int>(i % kGreenlets)) {
      first_bad = i;
      break;
    }
  }
  CHECK_MESSAGE(first_bad == seq.size(), "round-robin broken at step " << first_bad);
}

TEST_CASE("a greenlet spinning in sleep(0) does not starve a timer") {
  bool fired = false;
  bool spinner_saw_it = false;
  long spins = 0;
  auto timer = gev::spawn([&] {
    gev::sleep(20ms);
    fired = true;
  });
  auto spinner = gev::spawn([&] {
    const auto deadline = Clock::now() + 10s;
    while (!fired && spins < 200'000'000 && Clock::now() < deadline) {
      gev::sleep(0s);
      ++spins;
    }
    spinner_saw_it = fired;
  });
  spinner->join();
  timer->join();
  CHECK_MESSAGE(spinner_saw_it,
                "the timer never fired while a greenlet looped sleep(0) (" << spins << " spins)");
  CHECK(spins > 0);
}

TEST_CASE("many greenlets spinning in sleep(0) do not starve a timer") {
  bool fired = false;
  int saw = 0;
  auto timer = gev::spawn([&] {
    gev::sleep(10ms);
    fired = true;
  });
  gev::GreenletList spinners;
  for (int i = 0; i < 8; ++i) {
    spinners.push_back(gev::spawn([&] {
      const auto deadline = Clock::now() + 10s;
      for (long n = 0; !fired && n < 100'000'000 && Clock::now() < deadline; ++n) gev::sleep(0s);
      saw += fired;
    }));
  }
  gev::joinall(spinners);
  timer->join();
  CHECK_MESSAGE(saw == 8, "only " << saw << " of 8 spinners saw the timer fire");
}

TEST_CASE("a greenlet spinning in sleep(0) does not starve fd readiness") {
  Pipe p;
  int events = -1;
  bool spinner_saw_it = false;
  long spins = 0;
  auto reader = gev::spawn([&] { events = gev::wait_fd(p.r, EV_READ, 10s); });
  auto spinner = gev::spawn([&] {
    const auto deadline = Clock::now() + 10s;
    while (events == -1 && spins < 200'000'000 && Clock::now() < deadline) {
      gev::sleep(0s);
      ++spins;
    }
    spinner_saw_it = events != -1;
  });
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    REQUIRE(write(p.w, "x", 1) == 1);
  });
  spinner->join();
  reader->join();
  writer.join();
  CHECK_MESSAGE(spinner_saw_it,
                "the pipe's readiness was not delivered while a greenlet looped "
                "sleep(0) ("
                    << spins << " spins)");
  CHECK(events == EV_READ);
}

TEST_CASE("a greenlet spinning in sleep(0) does not starve a cross-thread post") {
  auto& hub = gev::get_hub();
  std::atomic<bool> posted_ran{false};
  bool on_hub_thread = false;
  const auto hub_thread = std::this_thread::get_id();
  bool spinner_saw_it = false;
  auto spinner = gev::spawn([&] {
    const auto deadline = Clock::now() + 10s;
    for (long n = 0; !posted_ran && n < 200'000'000 && Clock::now() < deadline; ++n) {
      gev::sleep(0s);
    }
    spinner_saw_it = posted_ran;
  });
  std::thread poster([&] {
    std::this_thread::sleep_for(20ms);
    hub.post([&] {
      on_hub_thread = std::this_thread::get_id() == hub_thread;
      posted_ran = true;
    });
  });
  spinner->join();
  poster.join();
  CHECK_MESSAGE(spinner_saw_it, "a post from another thread never ran while a greenlet looped");
  CHECK(on_hub_thread);
}

TEST_CASE("100k greenlets spawned and joined") {
  constexpr int kCount = 100'000;
  auto& hub = gev::get_hub();
  const std::size_t live_before = hub.live_greenlets();
  const std::size_t stacks_before = hub.stacks().stacks_in_use();
  const auto t0 = Clock::now();
  int ran = 0;
  std::vector<std::shared_ptr<gev::Greenlet<int>>> gs;
  gs.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    gs.push_back(gev::spawn([&ran, i] {
      ++ran;
      return i;
    }));
  }
  CHECK(ran == 0);
  CHECK(hub.live_greenlets() == live_before + kCount);
  std::int64_t sum = 0;
  int joined = 0;
  for (auto& g : gs) {
    joined += g->join();
    sum += g->get();
  }
  CHECK(joined == kCount);
  CHECK(ran == kCount);
  CHECK(sum == std::int64_t{kCount} * (kCount - 1) / 2);
  CHECK(hub.live_greenlets() == live_before);
  CHECK_MESSAGE(hub.stacks().stacks_in_use() == stacks_before,
                "stacks of finished greenlets were not returned to the pool");
  CHECK_MESSAGE(seconds_since(t0) < 30.0, "100k spawn+join took " << seconds_since(t0) << " s");
}

TEST_CASE("10k greenlets parked at the same time all complete") {
  constexpr int kCount = 10'000;
  auto& hub = gev::get_hub();
  const std::size_t live_before = hub.live_greenlets();
  int started = 0;
  int finished = 0;
  gev::GreenletList gs;
  gs.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    gs.push_back(gev::spawn([&] {
      ++started;
      gev::get_hub().park("gate");
      gev::sleep(1ms);
      ++finished;
    }));
  }
  // main is behind all of them in the ready queue: one sleep(0) lets every one start and park.
  gev::sleep(0s);
  CHECK(started == kCount);
  CHECK(finished == 0);
  CHECK(hub.live_greenlets() == live_before + kCount);
  CHECK(hub.stacks().stacks_in_use() >= static_cast<std::size_t>(kCount));
  for (auto& g : gs) hub.unpark(*g);
  auto done = gev::joinall(gs, 60s);
  CHECK(done.size() == static_cast<std::size_t>(kCount));
  CHECK(finished == kCount);
  CHECK(hub.live_greenlets() == live_before);
}

TEST_CASE("a negative sleep yields like sleep(0)") {
  int ran = 0;
  auto g = gev::spawn([&] { ++ran; });
  gev::sleep(-5ms);
  CHECK_MESSAGE(ran == 1, "sleep(-5ms) did not let the ready greenlet run");
  g->join();
}

TEST_CASE("ready_count and live_greenlets track spawned greenlets") {
  auto& hub = gev::get_hub();
  const std::size_t live_before = hub.live_greenlets();
  CHECK(hub.ready_count() == 0);
  gev::GreenletList gs;
  for (int i = 0; i < 3; ++i) gs.push_back(gev::spawn([] { gev::get_hub().park("counted"); }));
  CHECK(hub.ready_count() == 3);
  CHECK(hub.live_greenlets() == live_before + 3);
  gev::sleep(0s);  // all three run and park
  CHECK(hub.ready_count() == 0);
  CHECK(hub.live_greenlets() == live_before + 3);
  gev::killall(gs);
  CHECK(hub.live_greenlets() == live_before);
}

TEST_CASE("describe_fibers names live greenlets with what they are parked in, up to a limit") {
  auto& hub = gev::get_hub();
  gev::GreenletList gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(gev::spawn(gev::SpawnOptions{.name = "described-" + std::to_string(i)},
                            [] { gev::get_hub().park("the-describe-test"); }));
  }
  gev::sleep(0s);
  const std::string all = hub.describe_fibers(10);
  for (int i = 0; i < 4; ++i)
    CHECK_MESSAGE(all.find("described-" + std::to_string(i)) != std::string::npos, all);
  CHECK_MESSAGE(all.find("the-describe-test") != std::string::npos, all);
  const std::string limited = hub.describe_fibers(2);
  CHECK_MESSAGE(limited.find("described-3") == std::string::npos, limited);
  CHECK_MESSAGE(limited.find("2 more") != std::string::npos, limited);
  gev::killall(gs);
  CHECK(hub.describe_fibers() == "none");
}

TEST_CASE("idle() returns once nothing else is ready, before timers that are not due") {
  int busy_steps = 0;
  bool sleeper_done = false;
  auto busy = gev::spawn([&] {
    for (int i = 0; i < 10; ++i) {
      ++busy_steps;
      gev::sleep(0s);
    }
  });
  auto sleeper = gev::spawn([&] {
    gev::sleep(200ms);
    sleeper_done = true;
  });
  gev::idle();
  CHECK_MESSAGE(busy_steps == 10, "idle() returned while a greenlet was still ready");
  CHECK_FALSE_MESSAGE(sleeper_done, "idle() waited for a timer");
  busy->join();
  sleeper->join();
  CHECK(sleeper_done);
}
