// Greenlet<T>: states, names, get/join, arguments, results, subclassing, start/start_later.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::holds;
using gev::test::what_of;

namespace {

// Counts copies and moves of itself.
struct Counted {
  int* copies;
  int* moves;
  int value;
  Counted(int* c, int* m, int v) : copies(c), moves(m), value(v) {}
  Counted(const Counted& o) : copies(o.copies), moves(o.moves), value(o.value) { ++*copies; }
  Counted(Counted&& o) noexcept : copies(o.copies), moves(o.moves), value(o.value) {
    ++*moves;
    o.value = -1;
  }
  Counted& operator=(const Counted&) = delete;
  Counted& operator=(Counted&&) = delete;
};

struct NoDefault {
  explicit NoDefault(int v) : value(v) {}
  NoDefault(const NoDefault&) = delete;
  NoDefault(NoDefault&&) = default;
  int value;
};

}  // namespace

TEST_CASE("spawn is never synchronous and the greenlet runs on a coming turn") {
  bool ran = false;
  auto g = gev::spawn([&] { ran = true; });
  CHECK_FALSE(ran);
  CHECK(g->started());
  CHECK_FALSE(g->ready());
  CHECK(static_cast<bool>(*g));  // bool(g): started and not yet finished (gevent's rule)
  gev::sleep(0s);
  CHECK(ran);
  CHECK(g->join());
  CHECK(g->ready());
  expect_quiet_hub();
}

TEST_CASE("states before start, while running (seen from inside), after success") {
  struct Seen {
    bool started = false, ready = true, successful = true, dead = true, as_bool = false;
    bool has_exception = true;
    bool is_current = false;
  } seen;
  struct Probe : gev::Greenlet<int> {
    std::function<int()> body;
    int run() override { return body(); }
  };
  auto g = std::make_shared<Probe>();
  g->body = [&]() -> int {
    gev::GreenletBase* self = gev::getcurrent();
    seen.is_current = self == g.get();
    seen.started = g->started();
    seen.ready = g->ready();
    seen.successful = g->successful();
    seen.dead = g->dead();
    seen.as_bool = static_cast<bool>(*g);
    seen.has_exception = g->exception() != nullptr;
    gev::sleep(1ms);
    return 42;
  };

  // Not started.
  CHECK_FALSE(g->started());
  CHECK_FALSE(g->ready());
  CHECK_FALSE(g->dead());
  CHECK_FALSE(g->successful());
  CHECK_FALSE(static_cast<bool>(*g));
  CHECK_FALSE(g->value().has_value());
  CHECK(g->exception() == nullptr);
  gev::sleep(1ms);
  CHECK_FALSE(g->started());  // nothing runs it until start()

  g->start();
  CHECK(g->started());
  CHECK(static_cast<bool>(*g));
  CHECK(g->join());

  CHECK(seen.is_current);
  CHECK(seen.started);
  CHECK_FALSE(seen.ready);
  CHECK_FALSE(seen.successful);
  CHECK_FALSE(seen.dead);
  CHECK(seen.as_bool);
  CHECK_FALSE(seen.has_exception);

  CHECK(g->started());
  CHECK(g->ready());
  CHECK(g->dead());
  CHECK(g->successful());
  CHECK_FALSE(static_cast<bool>(*g));
  REQUIRE(g->value().has_value());
  CHECK(*g->value() == 42);
  CHECK(g->exception() == nullptr);
  CHECK(g->get() == 42);
  expect_quiet_hub();
}

TEST_CASE("states after an exception") {
  gev::test::CaptureErrors errors;
  auto g = gev::spawn([]() -> int {
    gev::sleep(1ms);
    throw std::runtime_error("boom");
  });
  CHECK(g->join());  // join never rethrows
  CHECK(g->ready());
  CHECK(g->dead());
  CHECK_FALSE(g->successful());
  CHECK_FALSE(static_cast<bool>(*g));
  CHECK_FALSE(g->value().has_value());
  REQUIRE(g->exception() != nullptr);
  CHECK(holds<std::runtime_error>(g->exception()));
  CHECK(what_of(g->exception()) == "boom");
  CHECK_THROWS_WITH_AS(g->get(), "boom", std::runtime_error);
  CHECK_THROWS_WITH_AS(g->get(1s), "boom", std::runtime_error);
  CHECK(g->join(0s));
  CHECK(errors.count() == 1);
  expect_quiet_hub();
}

TEST_CASE("states after kill") {
  int destroyed = 0;
  auto g = gev::spawn([&]() -> int {
    gev::test::Witness w{&destroyed};
    gev::sleep(1h);
    return 1;
  });
  gev::sleep(0s);
  CHECK(static_cast<bool>(*g));
  CHECK(g->kill());
  CHECK(destroyed == 1);
  CHECK(g->ready());
  CHECK(g->dead());
  CHECK(g->successful());  // GreenletExit counts as success
  CHECK_FALSE(static_cast<bool>(*g));
  CHECK_FALSE(g->value().has_value());
  CHECK(holds<gev::GreenletExit>(g->exception()));
  CHECK_THROWS_AS(g->get(), gev::GreenletExit);
  expect_quiet_hub();
}

TEST_CASE("default names are Greenlet-N with N the id; SpawnOptions gives a name") {
  auto a = gev::spawn([] {});
  auto b = gev::spawn([] {});
  CHECK(a->name() == "Greenlet-" + std::to_string(a->id()));
  CHECK(b->name() == "Greenlet-" + std::to_string(b->id()));
  CHECK(b->id() > a->id());
  CHECK(a->name() != b->name());

  std::string seen_inside;
  auto named = gev::spawn(gev::SpawnOptions{.name = "worker-7"},
                          [&] { seen_inside = gev::getcurrent()->name(); });
  CHECK(named->name() == "worker-7");
  named->join();
  CHECK(seen_inside == "worker-7");

  named->set_name("renamed");
  CHECK(named->name() == "renamed");
  gev::joinall({a, b});
  expect_quiet_hub();
}

TEST_CASE("get() waits and returns the value; get(timeout) throws gev::Timeout") {
  auto slow = gev::spawn([] {
    gev::sleep(1h);
    return std::string("never");
  });
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(slow->get(20ms), gev::Timeout);
  CHECK(std::chrono::steady_clock::now() - t0 >= 15ms);
  CHECK_FALSE(slow->ready());  // a get() timeout does not kill the greenlet
  CHECK(static_cast<bool>(*slow));

  auto fast = gev::spawn([] {
    gev::sleep(5ms);
    return std::string("hello");
  });
  CHECK(fast->get() == "hello");
  std::string& ref = fast->get(1s);
  CHECK(ref == "hello");
  CHECK(&ref == &*fast->value());  // get() returns a reference to the stored value

  CHECK(slow->kill());
  expect_quiet_hub();
}

TEST_CASE("join(timeout) returns false on timeout and never rethrows") {
  gev::test::CaptureErrors errors;
  auto g = gev::spawn([] {
    gev::sleep(50ms);
    throw std::logic_error("late failure");
  });
  CHECK_FALSE(g->join(5ms));
  CHECK_FALSE(g->ready());
  CHECK_NOTHROW(CHECK(g->join(10s)));
  CHECK(g->ready());
  CHECK_NOTHROW(CHECK(g->join()));
  CHECK(errors.count() == 1);
  expect_quiet_hub();
}

TEST_CASE("a greenlet cannot join itself") {
  std::shared_ptr<gev::GreenletBase> self;
  bool threw = false;
  auto g = gev::spawn([&] {
    try {
      self->join();
    } catch (const std::logic_error&) {
      threw = true;
    }
  });
  self = g;
  g->join();
  CHECK(threw);
  self.reset();
  expect_quiet_hub();
}

TEST_CASE("spawn arguments: lvalues are copied once, rvalues are moved, none copied twice") {
  int copies = 0, moves = 0;
  Counted lvalue{&copies, &moves, 7};
  int seen_l = 0, seen_r = 0;
  auto g1 = gev::spawn([&](Counted c) { seen_l = c.value; }, lvalue);
  CHECK(copies == 1);
  CHECK(lvalue.value == 7);  // the caller's object is untouched
  g1->join();
  CHECK(seen_l == 7);
  CHECK(copies == 1);

  copies = moves = 0;
  auto g2 = gev::spawn([&](Counted c) { seen_r = c.value; }, Counted{&copies, &moves, 9});
  g2->join();
  CHECK(seen_r == 9);
  CHECK(copies == 0);
  CHECK(moves >= 1);
  expect_quiet_hub();
}

TEST_CASE("spawn arguments: references through std::ref, move-only arguments and functions") {
  int target = 0;
  auto g1 = gev::spawn([](int& x, int v) { x = v; }, std::ref(target), 5);
  g1->join();
  CHECK(target == 5);

  auto p = std::make_unique<int>(11);
  auto g2 = gev::spawn([](std::unique_ptr<int> q) { return *q * 2; }, std::move(p));
  CHECK(p == nullptr);
  CHECK(g2->get() == 22);

  auto owned = std::make_unique<std::string>("move-only lambda");
  auto g3 = gev::spawn([s = std::move(owned)] { return *s; });
  CHECK(g3->get() == "move-only lambda");

  // Returning a move-only value.
  auto g4 = gev::spawn([] { return std::make_unique<int>(3); });
  REQUIRE(g4->get() != nullptr);
  CHECK(*g4->get() == 3);
  std::unique_ptr<int> taken = std::move(g4->get());
  CHECK(*taken == 3);
  expect_quiet_hub();
}

TEST_CASE("the function and its arguments are released when the body returns") {
  auto shared = std::make_shared<int>(1);
  std::weak_ptr<int> weak = shared;
  auto g = gev::spawn([](std::shared_ptr<int> s) { return *s; }, std::move(shared));
  CHECK_FALSE(weak.expired());
  CHECK(g->get() == 1);
  CHECK(weak.expired());  // g is still held, but its arguments are gone
  expect_quiet_hub();
}

TEST_CASE("results of non-default-constructible types") {
  auto g = gev::spawn([](int v) { return NoDefault{v}; }, 17);
  CHECK(g->get().value == 17);
  static_assert(std::is_same_v<decltype(g->get()), NoDefault&>);
  REQUIRE(g->value().has_value());
  CHECK(g->value()->value == 17);
  expect_quiet_hub();
}

TEST_CASE("Greenlet<void>") {
  int runs = 0;
  auto g = gev::spawn([&] { ++runs; });
  static_assert(std::is_same_v<decltype(g), std::shared_ptr<gev::Greenlet<void>>>);
  static_assert(std::is_void_v<decltype(g->get())>);
  CHECK_NOTHROW(g->get());
  CHECK(runs == 1);
  CHECK(g->successful());

  gev::test::CaptureErrors errors;
  auto bad = gev::spawn([] { throw std::out_of_range("void failure"); });
  CHECK_THROWS_WITH_AS(bad->get(), "void failure", std::out_of_range);
  expect_quiet_hub();
}

TEST_CASE("dropping the handle of a spawned greenlet does not kill it") {
  bool finished = false;
  int destroyed = 0;
  {
    auto g = gev::spawn([&] {
      gev::test::Witness w{&destroyed};
      gev::sleep(5ms);
      finished = true;
    });
  }
  CHECK(gev::test::wait_until([&] { return finished; }));
  CHECK(destroyed == 1);
  expect_quiet_hub();
}

namespace {

struct MyGreenlet : gev::Greenlet<void> {
  MyGreenlet(std::string message, int n) : message(std::move(message)), n(n) {}
  std::string message;
  int n;
  int runs = 0;
  std::string seen;

 protected:
  void run() override {
    ++runs;
    for (int i = 0; i < n; ++i) gev::sleep(1ms);
    seen = message;
  }
};

struct Adder : gev::Greenlet<int> {
  Adder(int a, int b) : gev::Greenlet<int>(gev::SpawnOptions{.name = "adder"}), a(a), b(b) {}
  int a, b;

 protected:
  int run() override {
    gev::sleep(0s);
    return a + b;
  }
};

struct NotOverridden : gev::Greenlet<int> {};

}  // namespace

TEST_CASE("subclassing Greenlet<void>: run() is the body; start() twice is a no-op") {
  MyGreenlet g{"Hi there!", 3};
  CHECK_FALSE(g.started());
  g.start();
  g.start();
  CHECK(g.started());
  CHECK(g.join());
  CHECK(g.runs == 1);
  CHECK(g.seen == "Hi there!");
  CHECK(g.successful());
  g.start();  // after the finish: still a no-op
  gev::sleep(1ms);
  CHECK(g.runs == 1);
  expect_quiet_hub();
}

TEST_CASE("subclassing Greenlet<int>: run() returns the value") {
  Adder g{2, 40};
  CHECK(g.name() == "adder");
  g.start();
  CHECK(g.get() == 42);
  CHECK(*g.value() == 42);

  // A subclass owned by a shared_ptr works too.
  auto h = std::make_shared<Adder>(1, 2);
  h->start();
  CHECK(h->get() == 3);
  expect_quiet_hub();
}

TEST_CASE("a subclass that does not override run() fails with logic_error") {
  gev::test::CaptureErrors errors;
  NotOverridden g;
  g.start();
  CHECK_THROWS_AS(g.get(), std::logic_error);
  CHECK_FALSE(g.successful());
  CHECK(errors.count() == 1);
  expect_quiet_hub();
}

TEST_CASE("spawn() twice-started greenlet runs once") {
  int runs = 0;
  auto g = gev::spawn([&] { ++runs; });
  g->start();
  g->start();
  g->join();
  g->start();
  gev::sleep(1ms);
  CHECK(runs == 1);
  expect_quiet_hub();
}

TEST_CASE("start_later and spawn_later start after the delay") {
  bool ran = false;
  const auto t0 = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point ran_at;
  auto g = gev::spawn_later(
      100ms,
      [&](int v) {
        ran = true;
        ran_at = std::chrono::steady_clock::now();
        return v;
      },
      5);
  CHECK(g->started());
  CHECK_FALSE(g->ready());
  gev::sleep(0s);
  gev::sleep(0s);
  CHECK_FALSE(ran);
  CHECK(g->get() == 5);
  CHECK(ran);
  CHECK(ran_at - t0 >= 90ms);
  CHECK(ran_at - t0 < 30s);

  MyGreenlet sub{"later", 0};
  const auto t1 = std::chrono::steady_clock::now();
  sub.start_later(60ms);
  CHECK(sub.started());
  gev::sleep(0s);
  CHECK(sub.runs == 0);
  sub.start();  // already requested: a no-op, does not start it early
  gev::sleep(0s);
  CHECK(sub.runs == 0);
  CHECK(sub.join());
  CHECK(sub.runs == 1);
  CHECK(std::chrono::steady_clock::now() - t1 >= 55ms);
  expect_quiet_hub();
}

TEST_CASE("a stack-allocated greenlet destroyed while still running terminates with a message") {
  auto r = gev::test::run_child([] {
    {
      MyGreenlet g{"stuck", 1'000'000};
      g.set_name("doomed-greenlet");
      g.start();
      gev::sleep(5ms);  // g now runs and is parked in one of its sleeps
    }
    std::puts("survived");
    return 0;
  });
  CHECK(r.signaled());
  CHECK(r.signal() == SIGABRT);
  CHECK(r.output.find("destroyed while still running") != std::string::npos);
  CHECK(r.output.find("doomed-greenlet") != std::string::npos);
  CHECK(r.output.find("survived") == std::string::npos);
}

TEST_CASE("a stack-allocated greenlet that finished or never started is destroyed quietly") {
  { MyGreenlet never{"never", 1}; }
  {
    MyGreenlet done{"done", 1};
    done.start();
    done.join();
  }
  {
    MyGreenlet killed{"killed", 1'000'000};
    killed.start();
    gev::sleep(1ms);
    CHECK(killed.kill());
  }
  expect_quiet_hub();
}

TEST_CASE("a started stack-allocated greenlet destroyed before it ran never runs") {
  int runs = 0;
  struct Counter : gev::Greenlet<void> {
    int* runs;
    explicit Counter(int* r) : runs(r) {}
    void run() override { ++*runs; }
  };
  {
    Counter g{&runs};
    g.start();  // queued for the next turn...
  }             // ...but destroyed first
  {
    Counter later{&runs};
    later.start_later(1ms);
  }
  gev::sleep(10ms);  // neither the ready queue nor the start timer may still refer to them
  CHECK(runs == 0);
  expect_quiet_hub();
}

TEST_CASE("join(0s) of an unfinished greenlet returns false without waiting for it") {
  auto g = gev::spawn([] { gev::sleep(1h); });
  CHECK_FALSE(g->join(0s));
  CHECK_FALSE(g->join(-1s));
  CHECK(g->kill());
  CHECK(g->join(0s));
  expect_quiet_hub();
}

TEST_CASE("SpawnOptions::stack_size gives a greenlet a larger stack") {
  auto g = gev::spawn(gev::SpawnOptions{.name = "big-stack", .stack_size = 4u << 20}, [] {
    volatile char buf[2u << 20];
    for (std::size_t i = 0; i < sizeof buf; i += 4096) buf[i] = static_cast<char>(i >> 12);
    buf[sizeof buf - 1] = 7;
    gev::sleep(1ms);  // park with the deep stack in use
    return static_cast<int>(buf[sizeof buf - 1]) + static_cast<int>(buf[4096]);
  });
  CHECK(g->get() == 8);
  expect_quiet_hub();
}

TEST_CASE("using a greenlet from another thread throws InvalidThreadUseError") {
  auto g = gev::spawn([] { gev::sleep(1h); });
  gev::sleep(0s);
  int refused = 0;
  std::thread other([&] {
    try {
      g->join();
    } catch (const gev::InvalidThreadUseError&) {
      ++refused;
    }
    try {
      g->kill();
    } catch (const gev::InvalidThreadUseError&) {
      ++refused;
    }
    try {
      g->start();
    } catch (const gev::InvalidThreadUseError&) {
      ++refused;
    }
  });
  other.join();
  CHECK(refused == 3);
  CHECK_FALSE(g->ready());
  CHECK(g->kill());
  expect_quiet_hub();
}

TEST_CASE("make_greenlet creates an unstarted greenlet; spawn_later takes SpawnOptions") {
  bool ran = false;
  auto g = gev::make_greenlet(
      [&](int v) {
        ran = true;
        return v + 1;
      },
      1);
  gev::sleep(1ms);
  CHECK_FALSE(ran);
  CHECK_FALSE(g->started());
  CHECK_FALSE(static_cast<bool>(*g));
  g->start();
  CHECK(g->get() == 2);
  CHECK(ran);

  auto later = gev::spawn_later(5ms, gev::SpawnOptions{.name = "later-named"}, [] { return 3; });
  CHECK(later->name() == "later-named");
  CHECK(later->get() == 3);
  expect_quiet_hub();
}

TEST_CASE("a greenlet whose stack cannot be allocated fails without running, visibly") {
  gev::test::CaptureErrors errors;
  bool ran = false, linked = false;
  auto g = gev::spawn(gev::SpawnOptions{.name = "no-stack", .stack_size = std::size_t{1} << 52},
                      [&] { ran = true; });
  g->link_exception([&](gev::GreenletBase&) { linked = true; });
  CHECK(g->join(10s));
  CHECK_FALSE(ran);
  CHECK(g->dead());
  CHECK_FALSE(g->successful());
  CHECK(g->exception() != nullptr);
  CHECK_THROWS(g->get());
  CHECK(gev::test::wait_until([&] { return linked; }));
  REQUIRE(errors.count() >= 1);
  CHECK(errors.reports()[0].context.find("no-stack") != std::string::npos);
  // The hub is fine afterwards.
  auto h = gev::spawn([] { return 1; });
  CHECK(h->get() == 1);
  expect_quiet_hub();
}
