// Greenlet::kill: before start, at a blocking point, custom exceptions, non-blocking, timeouts,
// killing oneself, and the BaseException rule.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::holds;
using gev::test::what_of;
using gev::test::Witness;

namespace {
struct CustomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

static_assert(!std::is_base_of_v<std::exception, gev::GreenletExit>);
static_assert(!std::is_base_of_v<std::exception, gev::Timeout>);
static_assert(std::is_base_of_v<gev::BaseException, gev::GreenletExit>);
static_assert(std::is_base_of_v<gev::BaseException, gev::Timeout>);

TEST_CASE("kill before start: never runs, links still fire, counts as success") {
  bool ran = false;
  auto g = gev::spawn([&] {
    ran = true;
    return 1;
  });
  std::vector<std::string> fired;
  g->link([&](gev::GreenletBase&) { fired.push_back("link"); });
  g->link_value([&](gev::GreenletBase&) { fired.push_back("value"); });
  g->link_exception([&](gev::GreenletBase&) { fired.push_back("exception"); });
  g->rawlink([&](gev::GreenletBase&) { fired.push_back("raw"); });

  CHECK(g->kill());
  CHECK(g->ready());
  CHECK(g->dead());
  CHECK(g->successful());
  CHECK_FALSE(static_cast<bool>(*g));
  CHECK(holds<gev::GreenletExit>(g->exception()));
  CHECK_FALSE(g->value().has_value());
  CHECK(g->join(0s));
  CHECK_THROWS_AS(g->get(), gev::GreenletExit);

  CHECK(gev::test::wait_until([&] { return fired.size() >= 3; }));
  gev::sleep(5ms);
  CHECK_FALSE(ran);
  CHECK(fired.size() == 3);
  CHECK(std::count(fired.begin(), fired.end(), "link") == 1);
  CHECK(std::count(fired.begin(), fired.end(), "value") == 1);
  CHECK(std::count(fired.begin(), fired.end(), "raw") == 1);
  CHECK(std::count(fired.begin(), fired.end(), "exception") == 0);
  CHECK(g->kill());  // again: a no-op
  CHECK_FALSE(ran);
  expect_quiet_hub();
}

TEST_CASE("kill of a subclass greenlet that was never started") {
  struct Body : gev::Greenlet<void> {
    bool ran = false;
    void run() override { ran = true; }
  };
  Body g;
  bool linked = false;
  g.link([&](gev::GreenletBase& x) { linked = x.dead(); });
  CHECK(g.kill());
  CHECK(g.dead());
  CHECK(g.successful());
  g.start();  // after the kill: never runs
  gev::sleep(1ms);
  CHECK(gev::test::wait_until([&] { return linked; }));
  CHECK_FALSE(g.ran);
  expect_quiet_hub();
}

TEST_CASE("kill of a spawn_later greenlet before its delay: it never runs") {
  bool ran = false;
  auto g = gev::spawn_later(20ms, [&] { ran = true; });
  CHECK(g->kill());
  CHECK(g->dead());
  gev::sleep(60ms);
  CHECK_FALSE(ran);
  expect_quiet_hub();
}

TEST_CASE("kill during a blocking sleep unwinds the stack (RAII runs) and returns true") {
  int destroyed = 0;
  bool after_sleep = false;
  auto g = gev::spawn([&] {
    Witness outer{&destroyed};
    {
      Witness inner{&destroyed};
      gev::sleep(1h);
    }
    after_sleep = true;
  });
  gev::sleep(1ms);
  CHECK(static_cast<bool>(*g));
  CHECK(destroyed == 0);
  CHECK(g->kill());
  CHECK(destroyed == 2);
  CHECK_FALSE(after_sleep);
  CHECK(g->dead());
  CHECK(g->successful());
  CHECK(holds<gev::GreenletExit>(g->exception()));
  expect_quiet_hub();
}

TEST_CASE("kill interrupts a greenlet parked in join() and in get()") {
  auto forever = gev::spawn([] { gev::sleep(1h); });
  int destroyed = 0;
  auto joiner = gev::spawn([&] {
    Witness w{&destroyed};
    forever->join();
  });
  auto getter = gev::spawn([&] {
    Witness w{&destroyed};
    forever->get();
  });
  gev::sleep(1ms);
  CHECK(joiner->kill());
  CHECK(getter->kill());
  CHECK(destroyed == 2);
  CHECK_FALSE(forever->ready());
  CHECK(forever->kill());
  expect_quiet_hub();
}

TEST_CASE("kill with a custom exception: stored, reported, not successful") {
  gev::test::CaptureErrors errors;
  int destroyed = 0;
  auto g = gev::spawn([&] {
    Witness w{&destroyed};
    gev::sleep(1h);
    return 0;
  });
  gev::sleep(1ms);
  CHECK(g->kill({.exception = std::make_exception_ptr(CustomError("custom kill"))}));
  CHECK(destroyed == 1);
  CHECK(g->dead());
  CHECK_FALSE(g->successful());
  CHECK(holds<CustomError>(g->exception()));
  CHECK(what_of(g->exception()) == "custom kill");
  CHECK_THROWS_WITH_AS(g->get(), "custom kill", CustomError);
  CHECK(errors.count() == 1);

  // The same before start: stored as well.
  auto h = gev::spawn([] { return 1; });
  CHECK(h->kill({.exception = std::make_exception_ptr(CustomError("before start"))}));
  CHECK_FALSE(h->successful());
  CHECK_THROWS_WITH_AS(h->get(), "before start", CustomError);
  expect_quiet_hub();
}

TEST_CASE("the greenlet can catch the kill's custom exception and return normally") {
  auto g = gev::spawn([] {
    try {
      gev::sleep(1h);
    } catch (const CustomError& e) {
      return std::string("caught ") + e.what();
    }
    return std::string("not interrupted");
  });
  gev::sleep(1ms);
  CHECK(g->kill({.exception = std::make_exception_ptr(CustomError("x"))}));
  CHECK(g->successful());
  CHECK(g->get() == "caught x");
  expect_quiet_hub();
}

TEST_CASE("non-blocking kill returns before the greenlet finished") {
  int destroyed = 0;
  auto g = gev::spawn([&] {
    Witness w{&destroyed};
    gev::sleep(1h);
  });
  gev::sleep(1ms);
  CHECK_FALSE(g->kill({.block = false}));
  CHECK_FALSE(g->ready());
  CHECK(destroyed == 0);
  CHECK(g->join(10s));
  CHECK(destroyed == 1);
  CHECK(g->successful());
  expect_quiet_hub();
}

TEST_CASE("kill(timeout) of a greenlet that ignores GreenletExit returns false; it ends later") {
  bool caught = false;
  auto g = gev::spawn([&] {
    try {
      gev::sleep(1h);
    } catch (const gev::GreenletExit&) {
      caught = true;
      gev::sleep(100ms);  // keeps going despite the kill
      return 7;
    }
    return 0;
  });
  gev::sleep(1ms);
  CHECK_FALSE(g->kill({.timeout = 10ms}));
  CHECK(caught);
  CHECK_FALSE(g->ready());
  CHECK(static_cast<bool>(*g));
  CHECK(g->join(10s));
  CHECK(g->successful());
  CHECK(g->exception() == nullptr);
  CHECK(g->get() == 7);
  expect_quiet_hub();
}

TEST_CASE("a second kill reaches a greenlet that caught the first one") {
  int kills_seen = 0;
  auto g = gev::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      try {
        gev::sleep(1h);
      } catch (const gev::GreenletExit&) {
        ++kills_seen;
        if (kills_seen == 2) throw;
      }
    }
  });
  gev::sleep(1ms);
  CHECK_FALSE(g->kill({.timeout = 5ms}));
  CHECK(g->kill({.timeout = 10s}));
  CHECK(kills_seen == 2);
  CHECK(g->successful());
  expect_quiet_hub();
}

TEST_CASE("killing the current greenlet throws at once") {
  std::shared_ptr<gev::GreenletBase> self;
  bool after_kill = false, caught = false;
  int destroyed = 0;
  auto g = gev::spawn([&] {
    Witness w{&destroyed};
    try {
      self->kill();
      after_kill = true;
    } catch (const gev::GreenletExit&) {
      caught = true;
      throw;
    }
  });
  self = g;
  CHECK(g->join(10s));
  CHECK(caught);
  CHECK_FALSE(after_kill);
  CHECK(destroyed == 1);
  CHECK(g->successful());
  CHECK(holds<gev::GreenletExit>(g->exception()));
  self.reset();

  // With a custom exception: thrown as it is.
  gev::test::CaptureErrors errors;
  std::shared_ptr<gev::GreenletBase> self2;
  auto h = gev::spawn(
      [&] { self2->kill({.exception = std::make_exception_ptr(CustomError("self-inflicted"))}); });
  self2 = h;
  h->join();
  CHECK_FALSE(h->successful());
  CHECK(what_of(h->exception()) == "self-inflicted");
  self2.reset();
  expect_quiet_hub();
}

TEST_CASE("GreenletExit and Timeout are not caught by catch (const std::exception&)") {
  bool swallowed_kill = false;
  int destroyed = 0;
  auto g = gev::spawn([&] {
    Witness w{&destroyed};
    try {
      gev::sleep(1h);
    } catch (const std::exception&) {
      swallowed_kill = true;
    }
    gev::sleep(1h);  // not reached
  });
  gev::sleep(1ms);
  CHECK(g->kill({.timeout = 10s}));
  CHECK_FALSE(swallowed_kill);
  CHECK(destroyed == 1);
  CHECK(g->successful());

  bool swallowed_timeout = false, got_timeout = false;
  auto h = gev::spawn([&] {
    try {
      try {
        gev::Timeout t{5ms};
        gev::sleep(1h);
      } catch (const std::exception&) {
        swallowed_timeout = true;
      }
    } catch (const gev::Timeout&) {
      got_timeout = true;
    }
  });
  CHECK(h->join(10s));
  CHECK_FALSE(swallowed_timeout);
  CHECK(got_timeout);

  // Both are catchable as gev::BaseException.
  bool base_caught = false;
  auto k = gev::spawn([&] {
    try {
      gev::sleep(1h);
    } catch (const gev::BaseException& e) {
      base_caught = std::string(e.what()) == "GreenletExit";
      throw;
    }
  });
  gev::sleep(1ms);
  k->kill();
  CHECK(base_caught);
  expect_quiet_hub();
}

TEST_CASE("kill of a finished greenlet is a no-op returning true") {
  gev::test::CaptureErrors errors;
  auto ok = gev::spawn([] { return 3; });
  auto bad = gev::spawn([] { throw std::runtime_error("bad"); });
  ok->join();
  bad->join();
  CHECK(ok->kill());
  CHECK(bad->kill());
  CHECK(ok->get() == 3);
  CHECK(ok->exception() == nullptr);
  CHECK(what_of(bad->exception()) == "bad");
  CHECK(errors.count() == 1);
  expect_quiet_hub();
}

TEST_CASE("main can be the killer of many greenlets one by one") {
  int destroyed = 0;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 50; ++i) {
    gs.push_back(gev::spawn([&] {
      Witness w{&destroyed};
      gev::sleep(1h);
    }));
  }
  gev::sleep(1ms);
  for (auto& g : gs) CHECK(g->kill());
  CHECK(destroyed == 50);
  expect_quiet_hub();
}

TEST_CASE("kill reaches a greenlet that only ever yields with sleep(0)") {
  long yields = 0;
  int destroyed = 0;
  auto g = gev::spawn([&] {
    Witness w{&destroyed};
    for (; yields < 100'000'000; ++yields) gev::sleep(0s);
  });
  gev::sleep(2ms);  // the fairness bound lets main's timer in despite the yield loop
  CHECK(yields > 0);
  CHECK(g->kill());
  CHECK(destroyed == 1);
  CHECK(yields < 100'000'000);
  CHECK(g->successful());
  expect_quiet_hub();
}
