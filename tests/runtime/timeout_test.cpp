// gev::Timeout and with_timeout.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::Witness;

TEST_CASE("an RAII Timeout fires at a blocking point; the catch tells it by identity") {
  gev::Timeout t{10ms};
  CHECK(t.pending());
  CHECK(t.seconds() == std::optional<gev::Duration>(10ms));
  bool fired = false, after_sleep = false;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    gev::sleep(1h);
    after_sleep = true;
  } catch (const gev::Timeout& e) {
    fired = e.is(t);
    CHECK(std::string(e.what()).find("Timeout") != std::string::npos);
  }
  CHECK(fired);
  CHECK_FALSE(after_sleep);
  CHECK(std::chrono::steady_clock::now() - t0 >= 9ms);
  CHECK_FALSE(t.pending());  // fired: no longer armed
  expect_quiet_hub();
}

TEST_CASE("a Timeout unwinds RAII objects on the way out") {
  int destroyed = 0;
  bool fired = false;
  try {
    gev::Timeout t{5ms};
    Witness w{&destroyed};
    gev::sleep(1h);
  } catch (const gev::Timeout&) {
    fired = true;
  }
  CHECK(fired);
  CHECK(destroyed == 1);
}

TEST_CASE("the destructor cancels: no exception after the scope") {
  {
    gev::Timeout t{10ms};
    gev::sleep(1ms);
  }
  CHECK_NOTHROW(gev::sleep(30ms));
  CHECK_NOTHROW(gev::sleep(0s));
  expect_quiet_hub();
}

TEST_CASE("a Timeout that never reaches a blocking point never fires") {
  {
    gev::Timeout t{0s};
    volatile int x = 0;
    for (int i = 0; i < 1000; ++i) x = x + i;  // busy, no blocking point
  }
  CHECK_NOTHROW(gev::sleep(5ms));
}

TEST_CASE("deferred Timeout: start, cancel, pending") {
  gev::Timeout t{10ms, gev::Timeout::deferred};
  CHECK_FALSE(t.pending());
  CHECK_NOTHROW(gev::sleep(30ms));  // not started: does not fire

  t.start();
  CHECK(t.pending());
  t.cancel();
  CHECK_FALSE(t.pending());
  t.cancel();  // idempotent
  CHECK_FALSE(t.pending());
  CHECK_NOTHROW(gev::sleep(30ms));

  t.start();
  CHECK(t.pending());
  bool fired = false;
  try {
    gev::sleep(1h);
  } catch (const gev::Timeout& e) {
    fired = e.is(t);
  }
  CHECK(fired);
  CHECK_FALSE(t.pending());

  // Restartable after firing.
  t.start();
  CHECK(t.pending());
  CHECK_THROWS_AS(gev::sleep(1h), gev::Timeout);
  expect_quiet_hub();
}

TEST_CASE("start() re-arms from now") {
  gev::Timeout t{60ms, gev::Timeout::deferred};
  t.start();
  gev::sleep(30ms);
  t.start();  // re-armed: a fresh 60 ms from here
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(gev::sleep(1h), gev::Timeout);
  CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
}

TEST_CASE("nested timeouts: the inner one is shorter") {
  gev::Timeout outer{1h};
  bool inner_caught = false, outer_caught = false;
  try {
    gev::Timeout inner{5ms};
    try {
      gev::sleep(1h);
    } catch (const gev::Timeout& e) {
      CHECK_FALSE(e.is(outer));
      if (!e.is(inner)) throw;
      inner_caught = true;
    }
  } catch (const gev::Timeout&) {
    outer_caught = true;
  }
  CHECK(inner_caught);
  CHECK_FALSE(outer_caught);
  CHECK(outer.pending());  // the outer one is still armed
  outer.cancel();
  expect_quiet_hub();
}

TEST_CASE("nested timeouts: the outer one is shorter") {
  gev::Timeout outer{5ms};
  bool inner_handler_saw_other = false, outer_caught = false, wrongly_inner = false;
  try {
    gev::Timeout inner{1h};
    try {
      gev::sleep(1h);
    } catch (const gev::Timeout& e) {
      if (e.is(inner)) {
        wrongly_inner = true;
      } else {
        inner_handler_saw_other = true;
        throw;
      }
    }
  } catch (const gev::Timeout& e) {
    outer_caught = e.is(outer);
  }
  CHECK(inner_handler_saw_other);
  CHECK_FALSE(wrongly_inner);
  CHECK(outer_caught);
  expect_quiet_hub();
}

TEST_CASE("distinct Timeout objects are distinct; a thrown copy keeps the identity") {
  gev::Timeout a{std::nullopt, gev::Timeout::deferred};
  gev::Timeout b{std::nullopt, gev::Timeout::deferred};
  CHECK(a.is(a));
  CHECK_FALSE(a.is(b));
  gev::Timeout copy{a};
  CHECK(copy.is(a));
  CHECK_FALSE(copy.pending());
}

TEST_CASE("Timeout(0s) fires on a coming loop turn, at a blocking point") {
  SUBCASE("at a sleep") {
    gev::Timeout t{0s};
    CHECK_THROWS_AS(gev::sleep(50ms), gev::Timeout);
  }
  SUBCASE("in a loop of sleep(0)") {
    gev::Timeout t{0s};
    bool fired = false;
    long yields = 0;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      for (; yields < 10'000'000; ++yields) {
        gev::sleep(0s);
        if (std::chrono::steady_clock::now() - t0 > 10s) break;
      }
    } catch (const gev::Timeout& e) {
      fired = e.is(t);
    }
    CHECK(fired);
    MESSAGE("Timeout(0s) fired after " << yields << " sleep(0) calls");
  }
  SUBCASE("negative durations act like 0") {
    gev::Timeout t{-5s};
    CHECK_THROWS_AS(gev::sleep(50ms), gev::Timeout);
  }
}

TEST_CASE("Timeout(std::nullopt) never fires") {
  gev::Timeout t{std::nullopt};
  CHECK_FALSE(t.pending());
  CHECK_FALSE(t.seconds().has_value());
  CHECK_NOTHROW(gev::sleep(30ms));
  t.start();
  CHECK_NOTHROW(gev::sleep(10ms));
}

TEST_CASE("with_timeout returns the value or throws") {
  int v = gev::with_timeout(
      1s,
      [](int x) {
        gev::sleep(1ms);
        return x * 2;
      },
      21);
  CHECK(v == 42);

  std::string s = "ref";
  std::string& r = gev::with_timeout(1s, [&]() -> std::string& { return s; });
  CHECK(&r == &s);

  CHECK_THROWS_AS(gev::with_timeout(5ms, [] { gev::sleep(1h); }), gev::Timeout);
  CHECK_NOTHROW(gev::sleep(20ms));  // its Timeout is gone

  // Exceptions of the function pass through.
  CHECK_THROWS_WITH_AS(gev::with_timeout(1s, [] { throw std::runtime_error("inner"); }), "inner",
                       std::runtime_error);
  expect_quiet_hub();
}

TEST_CASE("a caught Timeout does not kill the greenlet: it continues and blocks again") {
  int timeouts = 0;
  auto g = gev::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      try {
        gev::Timeout t{2ms};
        gev::sleep(1h);
      } catch (const gev::Timeout&) {
        ++timeouts;
      }
    }
    gev::sleep(10ms);  // blocks normally afterwards
    return 5;
  });
  CHECK(g->get() == 5);
  CHECK(timeouts == 3);
  CHECK(g->successful());
  expect_quiet_hub();
}

TEST_CASE("an uncaught Timeout ends the greenlet as a failure") {
  gev::test::CaptureErrors errors;
  auto g = gev::spawn([] {
    gev::Timeout t{2ms};
    gev::sleep(1h);
  });
  g->join();
  CHECK_FALSE(g->successful());
  CHECK(gev::test::holds<gev::Timeout>(g->exception()));
  CHECK_THROWS_AS(g->get(), gev::Timeout);
  CHECK(errors.count() == 1);
  expect_quiet_hub();
}

TEST_CASE("a Timeout is delivered to the greenlet that started it, not to the others") {
  bool other_interrupted = false;
  auto other = gev::spawn([&] {
    try {
      gev::sleep(40ms);
    } catch (const gev::Timeout&) {
      other_interrupted = true;
    }
  });
  bool mine = false;
  auto g = gev::spawn([&] {
    try {
      gev::Timeout t{5ms};
      gev::sleep(1h);
    } catch (const gev::Timeout&) {
      mine = true;
    }
  });
  gev::joinall({other, g});
  CHECK(mine);
  CHECK_FALSE(other_interrupted);
  expect_quiet_hub();
}

TEST_CASE("a Timeout interrupts join, joinall and get") {
  auto forever = gev::spawn([] { gev::sleep(1h); });
  {
    gev::Timeout t{2ms};
    CHECK_THROWS_AS(forever->join(), gev::Timeout);
  }
  {
    gev::Timeout t{2ms};
    CHECK_THROWS_AS(gev::joinall({forever}), gev::Timeout);
  }
  {
    gev::Timeout t{2ms};
    CHECK_THROWS_AS(
        [&] {
          for (auto& g : gev::iwait({forever})) (void)g;
        }(),
        gev::Timeout);
  }
  CHECK_FALSE(forever->ready());
  forever->kill();
  expect_quiet_hub();
}

TEST_CASE("a kill replaces a Timeout pending at the same blocking point") {
  bool got_kill = false, got_timeout = false, timeout_had_fired = false;
  std::shared_ptr<gev::Greenlet<void>> g;
  g = gev::spawn([&] {
    gev::Timeout t{10ms};
    try {
      gev::sleep(1h);
    } catch (const gev::GreenletExit&) {
      got_kill = true;
    } catch (const gev::Timeout&) {
      got_timeout = true;
    }
    timeout_had_fired = !t.pending();
  });
  auto killer = gev::spawn([&] {
    gev::sleep(5ms);
    g->kill({.block = false});
  });
  gev::sleep(0s);  // both are parked now, their timers armed
  // Keep the hub from polling until both timers are due: then, in one turn, the killer's timer
  // fires first (wakes the killer), g's Timeout fires second (pending in g), and the killer runs
  // before g resumes, so the kill finds the Timeout pending and must replace it.
  const auto spin_until = std::chrono::steady_clock::now() + 30ms;
  while (std::chrono::steady_clock::now() < spin_until) {
  }
  gev::joinall({g, killer});
  CHECK(timeout_had_fired);  // the scenario happened: the Timeout fired before g resumed
  CHECK(got_kill);
  CHECK_FALSE(got_timeout);
  expect_quiet_hub();
}

TEST_CASE("an outer Timeout shorter than get(timeout) wins and keeps its identity") {
  auto slow = gev::spawn([] {
    gev::sleep(1h);
    return 0;
  });
  gev::Timeout outer{5ms};
  bool outer_fired = false;
  try {
    slow->get(1h);
  } catch (const gev::Timeout& e) {
    outer_fired = e.is(outer);
  }
  CHECK(outer_fired);
  // And the other way round: get's own, shorter timeout is not the outer one.
  gev::Timeout outer2{1h};
  bool inner_fired = false;
  try {
    slow->get(5ms);
  } catch (const gev::Timeout& e) {
    inner_fired = !e.is(outer2);
  }
  CHECK(inner_fired);
  outer2.cancel();
  slow->kill();
  expect_quiet_hub();
}

TEST_CASE("a Timeout cannot be started inside the hub") {
  bool refused = false;
  gev::get_hub().call_soon([&] {
    try {
      gev::Timeout t{1s};
    } catch (const gev::BlockingSwitchOutError&) {
      refused = true;
    }
  });
  gev::sleep(1ms);
  CHECK(refused);
}

// Kept last: under AddressSanitizer, a use-after-free here aborts the whole executable.
TEST_CASE("a Timeout left armed by a greenlet that finished fires harmlessly") {
  // Started inside g, never cancelled there; g ends and is freed while the timer is armed.
  auto t = std::make_shared<gev::Timeout>(10ms, gev::Timeout::deferred);
  {
    auto g = gev::spawn([t] { t->start(); });
    g->join();
  }
  // Whether the timer still fires or was dropped with its target, nobody may be interrupted
  // and nothing may touch the freed greenlet.
  CHECK_NOTHROW(gev::sleep(30ms));
  auto other = gev::spawn([] {
    gev::sleep(5ms);
    return 1;
  });
  CHECK(other->get() == 1);
  t.reset();
  expect_quiet_hub();
}
