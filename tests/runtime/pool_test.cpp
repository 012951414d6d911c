// Group and Pool: membership, spawn/apply/map/imap/imap_unordered, join (timeout, raise_error),
// kill, the Pool's bound (high-water mark) and FIFO among blocked spawners, and kills of a
// spawner parked on a full pool (no leaked slot).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <gev/gev.hpp>
#include <gev/runtime/pool.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::CaptureErrors;
using gev::test::expect_quiet_hub;
using gev::test::holds;
using gev::test::wait_until;

namespace {
struct TaskError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Tracks how many tasks run at once.
struct Gauge {
  int now = 0;
  int high = 0;
  void enter() { high = std::max(high, ++now); }
  void leave() { --now; }
};
}  // namespace

// ---------------------------------------------------------------------------------------------
// Group

TEST_CASE("Group: spawn adds, finishing removes, join waits for all") {
  gev::Group group;
  CHECK(group.size() == 0);
  CHECK(group.empty());
  CHECK(group.join(0s));
  auto a = group.spawn([] {
    gev::sleep(5ms);
    return 1;
  });
  auto b = group.spawn([](int x) { return x * 2; }, 21);
  CHECK(group.size() == 2);
  CHECK(group.contains(a));
  CHECK(group.contains(*b));
  auto list = group.greenlets();
  REQUIRE(list.size() == 2);
  CHECK(list[0] == a);
  CHECK(list[1] == b);
  CHECK(b->join(5s));
  CHECK_FALSE(group.contains(b));  // left as it finished
  CHECK(group.size() == 1);
  CHECK(group.join(5s));
  CHECK(group.empty());
  CHECK(a->get() == 1);
  CHECK(b->get() == 42);
  expect_quiet_hub();
}

TEST_CASE("Group: add, discard, contains; a finished greenlet is not added") {
  gev::Group group;
  auto g = gev::make_greenlet([] { gev::sleep(5ms); });
  group.add(g);
  group.add(g);  // idempotent
  CHECK(group.size() == 1);
  CHECK(group.contains(g));
  group.discard(*g);
  CHECK_FALSE(group.contains(g));
  CHECK(group.size() == 0);
  group.discard(*g);  // no-op
  group.add(g);
  g->start();
  CHECK(group.join(5s));
  CHECK_FALSE(group.contains(g));
  group.add(g);  // finished: not added
  CHECK(group.size() == 0);
  gev::GreenletRef none;
  CHECK_FALSE(group.contains(none));
  CHECK_THROWS_AS(group.add(none), std::invalid_argument);
  expect_quiet_hub();
}

TEST_CASE("Group: join with a timeout, and members added while joining") {
  gev::Group group;
  group.spawn([] { gev::sleep(200ms); });
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(group.join(10ms));
  CHECK(std::chrono::steady_clock::now() - t0 < 150ms);
  CHECK(group.size() == 1);
  CHECK(group.kill());
  CHECK(group.empty());

  bool late_done = false;
  group.spawn([&] {
    gev::sleep(2ms);
    group.spawn([&] {
      gev::sleep(5ms);
      late_done = true;
    });
  });
  CHECK(group.join(5s));
  CHECK(late_done);
  expect_quiet_hub();
}

TEST_CASE("Group: join(raise_error) rethrows a member's failure, GreenletExit is no failure") {
  CaptureErrors errors;
  gev::Group group;
  group.spawn([] { gev::sleep(1ms); });
  group.spawn([]() -> int { throw TaskError("boom"); });
  CHECK_THROWS_AS(group.join(5s, true), TaskError);
  CHECK(group.empty());
  CHECK(errors.count() == 1);

  auto k = group.spawn([] { gev::sleep(1s); });
  gev::sleep(1ms);
  k->kill({.block = false});
  CHECK(group.join(5s, true));
  CHECK(group.join(0s, false));
  expect_quiet_hub();
}

TEST_CASE("Group: kill kills every member and waits; non-blocking and killone") {
  gev::Group group;
  int unwound = 0;
  for (int i = 0; i < 5; ++i) {
    group.spawn([&] {
      gev::test::Witness w{&unwound};
      gev::sleep(10s);
    });
  }
  gev::sleep(1ms);
  CHECK(group.size() == 5);
  CHECK(group.kill());
  CHECK(group.empty());
  CHECK(unwound == 5);

  // Never started: never runs.
  bool ran = false;
  group.spawn([&] { ran = true; });
  CHECK(group.kill({.block = false}));
  CHECK(group.empty());
  gev::sleep(1ms);
  CHECK_FALSE(ran);

  // A member that ignores kills: kill with a timeout returns false.
  auto stubborn = group.spawn([] {
    for (int i = 0; i < 3; ++i) {
      try {
        gev::sleep(30ms);
      } catch (const gev::GreenletExit&) {
      }
    }
  });
  auto other = group.spawn([] { gev::sleep(10s); });
  gev::sleep(1ms);
  CHECK(group.killone(other));
  CHECK(other->dead());
  CHECK_FALSE(group.kill({.timeout = 5ms}));
  CHECK(group.contains(stubborn));
  CHECK(group.kill({.timeout = 5s}));
  CHECK(group.empty());
  CHECK(group.killone(stubborn));  // not a member any more
  expect_quiet_hub();
}

TEST_CASE("Group: kill from inside a member skips the caller") {
  gev::Group group;
  for (int i = 0; i < 3; ++i) group.spawn([] { gev::sleep(10s); });
  auto killer = group.spawn([&] {
    gev::sleep(1ms);
    return group.kill();
  });
  CHECK(killer->get(5s));
  CHECK(group.join(5s));
  expect_quiet_hub();
}

TEST_CASE("Group: apply returns the value, rethrows, runs inline from a member") {
  CaptureErrors errors;
  gev::Group group;
  CHECK(group.apply([](int a, int b) { return a + b; }, 2, 3) == 5);
  std::string s = group.apply([] { return std::string("hi"); });
  CHECK(s == "hi");
  int side = 0;
  group.apply([&] { side = 7; });
  CHECK(side == 7);
  CHECK_THROWS_AS(group.apply([]() -> int { throw TaskError("x"); }), TaskError);
  auto outer = group.spawn([&] {
    gev::GreenletBase* me = gev::getcurrent();
    return group.apply([&] { return gev::getcurrent() == me; });
  });
  CHECK(outer->get(5s));
  auto async = group.apply_async([] { return 9; });
  CHECK(async->get(5s) == 9);
  CHECK(group.join(5s));
  expect_quiet_hub();
}

TEST_CASE("Group: map keeps input order, imap_unordered yields completion order") {
  gev::Group group;
  std::vector<int> input{30, 10, 20, 0};
  auto slow_square = [](int ms) {
    gev::sleep(std::chrono::milliseconds(ms));
    return ms * ms;
  };
  auto out = group.map(slow_square, input);
  CHECK(out == std::vector<int>{900, 100, 400, 0});

  std::vector<int> ordered;
  for (int v : group.imap(slow_square, input)) ordered.push_back(v);
  CHECK(ordered == std::vector<int>{900, 100, 400, 0});

  std::vector<int> completion;
  for (int v : group.imap_unordered(slow_square, input)) completion.push_back(v);
  CHECK(completion == std::vector<int>{0, 100, 400, 900});

  // Empty input, void functions, non-copyable-free move-only-ish results.
  CHECK(group.map(slow_square, std::vector<int>{}).empty());
  int calls = 0;
  auto units = group.map([&](int) { ++calls; }, std::vector<int>{1, 2, 3});
  CHECK(units.size() == 3);
  CHECK(calls == 3);
  auto strings =
      group.map([](const std::string& x) { return x + "!"; }, std::vector<std::string>{"a", "b"});
  CHECK(strings == std::vector<std::string>{"a!", "b!"});
  CHECK(group.join(5s));
  expect_quiet_hub();
}

TEST_CASE("Group: a failing item rethrows at its position; others keep their results") {
  CaptureErrors errors;
  gev::Group group;
  auto fn = [](int x) {
    gev::sleep(std::chrono::milliseconds(x));
    if (x == 2) throw TaskError("two");
    return x;
  };
  CHECK_THROWS_AS(group.map(fn, std::vector<int>{1, 2, 3}), TaskError);
  auto it = group.imap(fn, std::vector<int>{3, 2, 1});
  std::vector<int> got;
  auto cur = it.begin();
  got.push_back(*cur);
  CHECK_THROWS_AS(++cur, TaskError);
  ++cur;
  got.push_back(*cur);
  ++cur;
  CHECK(cur == it.end());
  CHECK(got == std::vector<int>{3, 1});
  CHECK(group.join(5s));
  CHECK(errors.count() == 2);
  expect_quiet_hub();
}

TEST_CASE("Group: dropping an imap early stops feeding; next() API") {
  gev::Group group;
  int started = 0;
  {
    std::vector<int> items(100, 1);
    auto it = group.imap(
        [&](int x) {
          ++started;
          gev::sleep(1ms);
          return x;
        },
        items);
    auto first = it.next();
    REQUIRE(first.has_value());
    CHECK(*first == 1);
  }
  CHECK(group.join(5s));
  CHECK(started <= 100);
  auto it = group.imap_unordered([](int x) { return x + 1; }, std::vector<int>{1});
  CHECK(it.next() == 2);
  CHECK_FALSE(it.next().has_value());
  CHECK_FALSE(it.next().has_value());
  expect_quiet_hub();
}

// ---------------------------------------------------------------------------------------------
// Pool

TEST_CASE("Pool: capacity, free_count, full, and the invalid size") {
  CHECK_THROWS_AS(gev::Pool{0}, std::invalid_argument);
  gev::Pool pool{2};
  CHECK(pool.capacity() == 2);
  CHECK(pool.free_count() == 2);
  CHECK_FALSE(pool.full());
  CHECK(pool.wait_available(0s));
  auto a = pool.spawn([] { gev::sleep(20ms); });
  CHECK(pool.free_count() == 1);
  auto b = pool.spawn([] { gev::sleep(20ms); });
  CHECK(pool.free_count() == 0);
  CHECK(pool.full());
  CHECK(pool.size() == 2);
  CHECK_FALSE(pool.wait_available(1ms));
  CHECK(pool.wait_available(5s));
  CHECK(pool.free_count() >= 1);
  CHECK(pool.join(5s));
  CHECK(pool.free_count() == 2);
  expect_quiet_hub();
}

TEST_CASE("Pool: spawn parks the spawner while full; blocked spawners are served FIFO") {
  gev::Pool pool{1};
  std::vector<int> order;
  pool.spawn([] { gev::sleep(5ms); });
  std::vector<std::shared_ptr<gev::Greenlet<void>>> spawners;
  for (int i = 0; i < 4; ++i) {
    spawners.push_back(gev::spawn([&, i] {
      pool.spawn([&, i] {
        order.push_back(i);
        gev::sleep(1ms);
      });
    }));
  }
  gev::sleep(1ms);
  for (auto& s : spawners) CHECK_FALSE(s->ready());
  CHECK(gev::joinall(spawners, 5s).size() == spawners.size());
  CHECK(pool.join(5s));
  CHECK(order == std::vector<int>{0, 1, 2, 3});
  CHECK(pool.free_count() == 1);
  expect_quiet_hub();
}

TEST_CASE("Pool: killing a spawner parked in spawn() leaks no slot") {
  gev::Pool pool{1};
  bool ran = false;
  auto holder = pool.spawn([] { gev::sleep(10ms); });
  auto spawner = gev::spawn([&] { pool.spawn([&] { ran = true; }); });
  gev::sleep(1ms);
  CHECK(spawner->kill());
  CHECK(pool.join(5s));
  CHECK_FALSE(ran);
  CHECK(pool.free_count() == 1);

  // Killed after a slot was handed to it (before it ran): the slot goes to the next spawner.
  holder = pool.spawn([] { gev::sleep(5ms); });
  bool second_ran = false;
  auto first = gev::spawn([&] { pool.spawn([&] { ran = true; }); });
  auto second = gev::spawn([&] { pool.spawn([&] { second_ran = true; }); });
  gev::sleep(1ms);
  // As the holder dies its slot is handed to `first`; kill `first` right then, before it runs.
  holder->rawlink([&](gev::GreenletBase&) { first->kill({.block = false}); });
  CHECK(holder->join(5s));
  CHECK(gev::joinall({first, second}, 5s).size() == 2);
  CHECK(pool.join(5s));
  CHECK_FALSE(ran);
  CHECK(second_ran);
  CHECK(pool.free_count() == 1);

  // A Timeout while parked on a full pool.
  holder = pool.spawn([] { gev::sleep(50ms); });
  auto timed = gev::spawn([&] {
    gev::Timeout t{5ms};
    try {
      pool.spawn([] {});
      return false;
    } catch (const gev::Timeout&) {
      return true;
    }
  });
  CHECK(timed->get(5s));
  CHECK(pool.size() == 1);
  CHECK(pool.join(5s));
  CHECK(pool.free_count() == 1);
  expect_quiet_hub();
}

TEST_CASE("Pool: 1000 tasks of random short sleeps never exceed the size") {
  constexpr std::size_t kSize = 7;
  gev::Pool pool{kSize};
  Gauge gauge;
  std::size_t max_members = 0;
  std::mt19937 rng(12345);
  int finished = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto us = std::chrono::microseconds(rng() % 500);
    pool.spawn([&, us] {
      gauge.enter();
      if (us.count() % 3 == 0) {
        gev::sleep(0s);
      } else {
        gev::sleep(us);
      }
      gauge.leave();
      ++finished;
    });
    max_members = std::max(max_members, pool.size());
    CHECK(pool.size() <= kSize);
  }
  CHECK(pool.join(30s));
  CHECK(finished == 1000);
  CHECK(gauge.high <= static_cast<int>(kSize));
  CHECK(gauge.high >= 2);
  CHECK(max_members <= kSize);
  CHECK(pool.free_count() == kSize);
  expect_quiet_hub();
}

TEST_CASE("Pool: map/imap/imap_unordered never run more than the size at once") {
  gev::Pool pool{3};
  Gauge gauge;
  std::vector<int> input;
  for (int i = 0; i < 40; ++i) input.push_back(i);
  auto fn = [&](int x) {
    gauge.enter();
    gev::sleep(std::chrono::microseconds((x * 37) % 400));
    gauge.leave();
    return x * 10;
  };
  auto out = pool.map(fn, input);
  REQUIRE(out.size() == input.size());
  for (std::size_t i = 0; i < input.size(); ++i) CHECK(out[i] == input[i] * 10);
  CHECK(gauge.high <= 3);

  std::vector<int> ordered;
  for (int v : pool.imap(fn, input)) {
    ordered.push_back(v);
    CHECK(pool.size() <= 3);
  }
  CHECK(ordered == out);

  std::vector<int> unordered;
  for (int v : pool.imap_unordered(fn, input)) unordered.push_back(v);
  std::sort(unordered.begin(), unordered.end());
  CHECK(unordered == out);
  CHECK(gauge.high <= 3);
  CHECK(gauge.high >= 2);
  CHECK(pool.join(5s));
  CHECK(pool.free_count() == 3);
  expect_quiet_hub();
}

TEST_CASE("Pool: apply, add, discard and kill keep the slot count right") {
  gev::Pool pool{2};
  CHECK(pool.apply([](int x) { return x + 1; }, 1) == 2);
  CHECK(pool.free_count() == 2);

  auto g = gev::make_greenlet([] { gev::sleep(10s); });
  pool.add(g);
  CHECK(pool.free_count() == 1);
  pool.discard(*g);
  CHECK(pool.free_count() == 2);
  pool.add(g);
  g->start();
  // apply from inside a member of a full pool runs inline instead of deadlocking.
  auto inner = pool.spawn([&] { return pool.apply([] { return 5; }); });
  CHECK(pool.full());
  CHECK(inner->get(5s) == 5);

  // add() parks while full.
  pool.spawn([] { gev::sleep(10s); });
  CHECK(pool.full());
  auto extra = gev::make_greenlet([] {});
  bool added = false;
  auto adder = gev::spawn([&] {
    pool.add(extra);
    added = true;
  });
  gev::sleep(1ms);
  CHECK_FALSE(added);
  CHECK(pool.killone(g));
  CHECK(adder->join(5s));
  CHECK(added);
  CHECK(pool.contains(extra));
  extra->start();
  CHECK(pool.kill());
  CHECK(pool.empty());
  CHECK(pool.free_count() == 2);
  expect_quiet_hub();
}

TEST_CASE("Pool: a map over a full pool from a non-member waits its turn") {
  gev::Pool pool{1};
  pool.spawn([] { gev::sleep(5ms); });
  auto out = pool.map([](int x) { return x; }, std::vector<int>{1, 2, 3});
  CHECK(out == std::vector<int>{1, 2, 3});
  CHECK(pool.join(5s));
  expect_quiet_hub();
}

TEST_CASE("Group: another thread's use is refused") {
  gev::Group group;
  std::string error;
  std::thread t([&] {
    try {
      group.join(0s);
    } catch (const gev::InvalidThreadUseError& e) {
      error = e.what();
    }
  });
  t.join();
  CHECK_FALSE(error.empty());
}
