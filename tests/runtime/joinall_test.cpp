// joinall, killall, iwait.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::holds;
using gev::test::what_of;
using gev::test::Witness;

namespace {

// A greenlet that sleeps `d` and returns `v`.
std::shared_ptr<gev::Greenlet<int>> sleeper(gev::Duration d, int v) {
  return gev::spawn([d, v] {
    gev::sleep(d);
    return v;
  });
}

std::vector<const gev::GreenletBase*> raw(const gev::GreenletList& l) {
  std::vector<const gev::GreenletBase*> out;
  for (const auto& g : l) out.push_back(g.get());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// joinall

TEST_CASE("joinall waits for all and returns them in the order given") {
  auto a = sleeper(20ms, 1);
  auto b = sleeper(1ms, 2);
  auto c = sleeper(10ms, 3);
  gev::GreenletList all{a, b, c};
  auto done = gev::joinall(all);
  CHECK(raw(done) == raw(all));
  CHECK(a->ready());
  CHECK(b->ready());
  CHECK(c->ready());
  CHECK(a->get() + b->get() + c->get() == 6);
  expect_quiet_hub();
}

TEST_CASE("joinall with a timeout returns the subset that finished") {
  auto fast1 = sleeper(1ms, 1);
  auto slow = sleeper(1h, 2);
  auto fast2 = sleeper(2ms, 3);
  auto done = gev::joinall({fast1, slow, fast2}, 200ms);
  CHECK(raw(done) == std::vector<const gev::GreenletBase*>{fast1.get(), fast2.get()});
  CHECK_FALSE(slow->ready());
  CHECK(slow->kill());
  expect_quiet_hub();
}

TEST_CASE("joinall with a zero timeout and all greenlets already finished") {
  auto a = sleeper(0s, 1);
  a->join();
  auto done = gev::joinall({a}, 0s);
  CHECK(done.size() == 1);
  CHECK(gev::joinall(gev::GreenletList{}).empty());
  expect_quiet_hub();
}

TEST_CASE("joinall does not rethrow without raise_error") {
  gev::test::CaptureErrors errors;
  auto bad = gev::spawn([]() -> int { throw std::runtime_error("bad"); });
  auto good = sleeper(1ms, 1);
  gev::GreenletList done;
  CHECK_NOTHROW(done = gev::joinall({bad, good}));
  CHECK(done.size() == 2);
  expect_quiet_hub();
}

TEST_CASE("joinall raise_error rethrows the first failure, not the first in the list") {
  gev::test::CaptureErrors errors;
  auto slow_ok = sleeper(1h, 1);
  auto late_bad = gev::spawn([]() -> int {
    gev::sleep(60ms);
    throw std::runtime_error("late");
  });
  auto early_bad = gev::spawn([]() -> int {
    gev::sleep(2ms);
    throw std::runtime_error("early");
  });
  CHECK_THROWS_WITH_AS(gev::joinall({slow_ok, late_bad, early_bad}, std::nullopt, true), "early",
                       std::runtime_error);
  // It raised as soon as one failed, without waiting for the rest.
  CHECK_FALSE(slow_ok->ready());
  CHECK(early_bad->ready());
  late_bad->join();
  CHECK(slow_ok->kill());
  expect_quiet_hub();
}

TEST_CASE("joinall raise_error: an already-failed greenlet later in the list is raised") {
  gev::test::CaptureErrors errors;
  auto bad = gev::spawn([]() -> int { throw std::domain_error("already failed"); });
  bad->join();
  auto ok = sleeper(1ms, 1);
  CHECK_THROWS_WITH_AS(gev::joinall({ok, bad}, 10s, true), "already failed", std::domain_error);
  ok->join();
  expect_quiet_hub();
}

TEST_CASE("joinall raise_error: a greenlet killed with GreenletExit is not a failure") {
  auto killed = sleeper(1h, 1);
  auto ok = sleeper(5ms, 2);
  gev::sleep(1ms);
  killed->kill({.block = false});
  gev::GreenletList done;
  CHECK_NOTHROW(done = gev::joinall({killed, ok}, 10s, true));
  CHECK(done.size() == 2);
  CHECK(killed->successful());

  auto never_started = sleeper(1ms, 3);
  never_started->kill();
  CHECK_NOTHROW(done = gev::joinall({never_started}, 10s, true));
  CHECK(done.size() == 1);
  expect_quiet_hub();
}

TEST_CASE("joinall raise_error with a timeout and no failure returns the finished subset") {
  auto ok = sleeper(1ms, 1);
  auto slow = sleeper(1h, 2);
  gev::GreenletList done;
  CHECK_NOTHROW(done = gev::joinall({ok, slow}, 20ms, true));
  CHECK(raw(done) == std::vector<const gev::GreenletBase*>{ok.get()});
  slow->kill();
  expect_quiet_hub();
}

TEST_CASE("joinall accepts vector<shared_ptr<Greenlet<int>>>") {
  std::vector<std::shared_ptr<gev::Greenlet<int>>> jobs;
  for (int i = 0; i < 10; ++i) jobs.push_back(sleeper(std::chrono::milliseconds(i % 3), i));
  auto done = gev::joinall(jobs);
  CHECK(done.size() == jobs.size());
  int sum = 0;
  for (auto& j : jobs) sum += j->get();
  CHECK(sum == 45);

  std::vector<std::shared_ptr<gev::Greenlet<int>>> more{sleeper(1h, 0)};
  CHECK(gev::joinall(more, 5ms).empty());
  CHECK(gev::killall(more));
  expect_quiet_hub();
}

TEST_CASE("joinall accepts an initializer list mixing Greenlet<int> and Greenlet<void>") {
  bool v_ran = false;
  std::shared_ptr<gev::Greenlet<int>> i = sleeper(2ms, 4);
  std::shared_ptr<gev::Greenlet<void>> v = gev::spawn([&] {
    gev::sleep(1ms);
    v_ran = true;
  });
  auto done = gev::joinall({i, v});
  CHECK(done.size() == 2);
  CHECK(v_ran);
  CHECK(i->get() == 4);
  expect_quiet_hub();
}

TEST_CASE("joinall is a blocking point: a kill reaches a greenlet parked in it") {
  auto forever = sleeper(1h, 0);
  int destroyed = 0;
  auto waiter = gev::spawn([&] {
    Witness w{&destroyed};
    gev::joinall({forever});
  });
  gev::sleep(1ms);
  CHECK(waiter->kill());
  CHECK(destroyed == 1);
  CHECK_FALSE(forever->ready());
  forever->kill();
  expect_quiet_hub();
}

// ---------------------------------------------------------------------------------------------
// killall

TEST_CASE("killall: greenlets not yet started never run; running ones unwind") {
  int ran = 0, destroyed = 0;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> running, pending;
  for (int i = 0; i < 5; ++i) {
    running.push_back(gev::spawn([&] {
      Witness w{&destroyed};
      gev::sleep(1h);
    }));
  }
  gev::sleep(1ms);
  for (int i = 0; i < 5; ++i) pending.push_back(gev::spawn([&] { ++ran; }));
  gev::GreenletList all;
  for (auto& g : running) all.push_back(g);
  for (auto& g : pending) all.push_back(g);
  CHECK(gev::killall(all));
  CHECK(destroyed == 5);
  for (auto& g : all) {
    CHECK(g->dead());
    CHECK(g->successful());
    CHECK(holds<gev::GreenletExit>(g->exception()));
  }
  gev::sleep(5ms);
  CHECK(ran == 0);
  expect_quiet_hub();
}

TEST_CASE("killall with block=false returns at once") {
  int destroyed = 0;
  auto a = gev::spawn([&] {
    Witness w{&destroyed};
    gev::sleep(1h);
  });
  auto b = gev::spawn([&] {
    Witness w{&destroyed};
    gev::sleep(1h);
  });
  gev::sleep(1ms);
  CHECK_FALSE(gev::killall({a, b}, {.block = false}));
  CHECK(destroyed == 0);
  CHECK_FALSE(a->ready());
  CHECK(gev::joinall({a, b}, 10s).size() == 2);
  CHECK(destroyed == 2);

  // Only never-started ones: all finished at once, so true even without blocking.
  auto c = gev::spawn([] {});
  CHECK(gev::killall({c}, {.block = false}));
  CHECK(c->dead());
  expect_quiet_hub();
}

TEST_CASE("killall with a timeout returns false when one ignores GreenletExit") {
  auto stubborn = gev::spawn([] {
    try {
      gev::sleep(1h);
    } catch (const gev::GreenletExit&) {
      gev::sleep(100ms);
    }
  });
  auto obedient = gev::spawn([] { gev::sleep(1h); });
  gev::sleep(1ms);
  CHECK_FALSE(gev::killall({stubborn, obedient}, {.timeout = 10ms}));
  CHECK(obedient->dead());
  CHECK_FALSE(stubborn->dead());
  CHECK(stubborn->join(10s));
  expect_quiet_hub();
}

TEST_CASE("killall with a custom exception") {
  gev::test::CaptureErrors errors;
  auto a = sleeper(1h, 1);
  auto b = sleeper(1h, 2);
  gev::sleep(1ms);
  CHECK(gev::killall({a, b}, {.exception = std::make_exception_ptr(std::runtime_error("stop"))}));
  CHECK(what_of(a->exception()) == "stop");
  CHECK(what_of(b->exception()) == "stop");
  CHECK_FALSE(a->successful());
  expect_quiet_hub();
}

// ---------------------------------------------------------------------------------------------
// iwait

TEST_CASE("iwait yields in completion order") {
  // The order is forced with joins, not timing: c finishes first, then a, then b.
  std::shared_ptr<gev::Greenlet<int>> a, b, c;
  c = sleeper(1ms, 3);
  a = gev::spawn([&] {
    c->join();
    return 1;
  });
  b = gev::spawn([&] {
    a->join();
    gev::sleep(1ms);
    return 2;
  });
  std::vector<const gev::GreenletBase*> order;
  for (gev::GreenletBase& done : gev::iwait({a, b, c})) {
    CHECK(done.ready());
    order.push_back(&done);
  }
  CHECK(order == std::vector<const gev::GreenletBase*>{c.get(), a.get(), b.get()});
  expect_quiet_hub();
}

TEST_CASE("iwait yields already finished greenlets first, in the order given") {
  auto running = sleeper(5ms, 0);
  auto done1 = sleeper(0s, 1);
  auto done2 = sleeper(0s, 2);
  gev::joinall({done1, done2});
  std::vector<const gev::GreenletBase*> order;
  for (auto& g : gev::iwait({running, done2, done1})) order.push_back(&g);
  CHECK(order == std::vector<const gev::GreenletBase*>{done2.get(), done1.get(), running.get()});
  expect_quiet_hub();
}

TEST_CASE("iwait with a timeout stops the iteration") {
  auto fast = sleeper(1ms, 1);
  auto slow = sleeper(1h, 2);
  std::vector<const gev::GreenletBase*> order;
  const auto t0 = std::chrono::steady_clock::now();
  int guard = 0;
  for (auto& g : gev::iwait({slow, fast}, 30ms)) {
    order.push_back(&g);
    if (++guard > 10) break;
  }
  CHECK(std::chrono::steady_clock::now() - t0 >= 25ms);
  CHECK(order == std::vector<const gev::GreenletBase*>{fast.get()});
  CHECK_FALSE(slow->ready());
  slow->kill();
  expect_quiet_hub();
}

TEST_CASE("iwait with a count stops after that many") {
  auto a = sleeper(1ms, 1);
  auto b = sleeper(1h, 2);
  auto c = sleeper(1h, 3);
  int n = 0;
  for (auto& g : gev::iwait({b, a, c}, std::nullopt, 1)) {
    CHECK(&g == a.get());
    ++n;
  }
  CHECK(n == 1);
  gev::killall({b, c});

  // count larger than the list: all of them
  auto d = sleeper(1ms, 4);
  auto e = sleeper(2ms, 5);
  n = 0;
  for (auto& g : gev::iwait({d, e}, 10s, 2)) {
    (void)g;
    ++n;
  }
  CHECK(n == 2);
  expect_quiet_hub();
}

TEST_CASE("iwait over an empty list yields nothing") {
  int n = 0;
  for (auto& g : gev::iwait({})) {
    (void)g;
    ++n;
  }
  CHECK(n == 0);
}

TEST_CASE("iwait can be stepped by hand and abandoned midway") {
  auto a = sleeper(1ms, 1);
  auto b = sleeper(1h, 2);
  {
    auto it = gev::iwait({a, b});
    auto pos = it.begin();
    REQUIRE_FALSE(pos == it.end());
    CHECK(&*pos == a.get());
    // leave b unwaited: destroying the IWait unregisters it
  }
  b->kill();  // b's death must not touch the destroyed IWait
  expect_quiet_hub();
}

TEST_CASE("iwait accepts vector<shared_ptr<Greenlet<int>>>") {
  std::vector<std::shared_ptr<gev::Greenlet<int>>> jobs{sleeper(2ms, 1), sleeper(1ms, 2)};
  int sum = 0, n = 0;
  for (auto& g : gev::iwait(jobs)) {
    sum += static_cast<gev::Greenlet<int>&>(g).get();
    ++n;
  }
  CHECK(n == 2);
  CHECK(sum == 3);
  expect_quiet_hub();
}

TEST_CASE("joinall and killall tolerate the same greenlet listed twice") {
  auto a = sleeper(1ms, 1);
  CHECK(gev::joinall({a, a}).size() == 2);
  auto b = sleeper(1h, 2);
  CHECK(gev::killall({b, b}));
  CHECK(b->dead());
  expect_quiet_hub();
}
