// Event and AsyncResult: every operation, timeout paths, wake order, kill safety.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::wait_until;

TEST_CASE("Event: wait parks until set, then every waiter returns true in FIFO order") {
  gev::Event ev;
  std::vector<int> order;
  std::vector<std::shared_ptr<gev::Greenlet<bool>>> waiters;
  for (int i = 0; i < 5; ++i) {
    waiters.push_back(gev::spawn([&, i] {
      bool r = ev.wait();
      order.push_back(i);
      return r;
    }));
  }
  gev::sleep(0s);
  CHECK(order.empty());
  CHECK_FALSE(ev.is_set());
  ev.set();
  CHECK(ev.is_set());
  gev::joinall(waiters);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  for (auto& w : waiters) CHECK(w->get());
  gev::test::expect_quiet_hub();
}

TEST_CASE("Event: wait on a set event returns at once; clear makes waits park again") {
  gev::Event ev;
  ev.set();
  CHECK(ev.wait());
  CHECK(ev.wait(0s));
  ev.clear();
  CHECK_FALSE(ev.is_set());
  CHECK_FALSE(ev.wait(10ms));  // times out
  ev.set();
  ev.set();  // idempotent
  CHECK(ev.ready());
}

TEST_CASE("Event: waiters woken by set() return true even if clear() runs before they resume") {
  gev::Event ev;
  auto w = gev::spawn([&] { return ev.wait(5s); });
  gev::sleep(0s);
  ev.set();
  ev.clear();
  CHECK(w->get() == true);
}

TEST_CASE("Event: wait(timeout) returns false on expiry and leaves no waiter behind") {
  gev::Event ev;
  auto w = gev::spawn([&] { return ev.wait(20ms); });
  CHECK(w->get() == false);
  // A later set() wakes only live waiters.
  auto w2 = gev::spawn([&] { return ev.wait(); });
  gev::sleep(0s);
  ev.set();
  CHECK(w2->get());
}

TEST_CASE("Event: killing a parked waiter keeps the others' wake-ups") {
  gev::Event ev;
  int woke = 0;
  int destroyed = 0;
  auto victim = gev::spawn([&] {
    gev::test::Witness w(&destroyed);
    ev.wait();
    ++woke;
  });
  auto other = gev::spawn([&] {
    ev.wait();
    ++woke;
  });
  gev::sleep(0s);
  victim->kill();
  CHECK(destroyed == 1);
  ev.set();
  other->join();
  CHECK(woke == 1);
}

TEST_CASE("Event: a Timeout around wait() fires, and the event still works afterwards") {
  gev::Event ev;
  bool timed_out = false;
  try {
    gev::Timeout t{10ms};
    ev.wait();
  } catch (const gev::Timeout&) {
    timed_out = true;
  }
  CHECK(timed_out);
  auto w = gev::spawn([&] { return ev.wait(); });
  gev::sleep(0s);
  ev.set();
  CHECK(w->get());
}

TEST_CASE("Event: 10,000 waiters are all released by one set()") {
  gev::Event ev;
  int released = 0;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 10'000; ++i) gs.push_back(gev::spawn([&] {
      ev.wait();
      ++released;
    }));
  gev::sleep(0s);
  ev.set();
  gev::joinall(gs);
  CHECK(released == 10'000);
}

TEST_CASE("Event used from another thread throws InvalidThreadUseError") {
  gev::Event ev;
  std::exception_ptr error;
  std::thread t([&] {
    try {
      ev.set();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  CHECK_THROWS_AS(std::rethrow_exception(error), gev::InvalidThreadUseError);
}

TEST_CASE("AsyncResult: the seed's setter/waiter/worker3 — worker3 runs while waiter is parked") {
  gev::AsyncResult<std::string> a;
  std::vector<std::string> log;
  auto setter = gev::spawn([&] {
    gev::sleep(30ms);
    a.set("Hello!");
  });
  auto waiter = gev::spawn([&] { log.push_back(a.get()); });
  auto worker3 = gev::spawn([&] { log.push_back("worker3"); });
  gev::joinall({waiter, setter, worker3});
  CHECK(log == std::vector<std::string>{"worker3", "Hello!"});
  CHECK(a.ready());
  CHECK(a.successful());
  CHECK(a.value() == std::optional<std::string>("Hello!"));
}

TEST_CASE("AsyncResult: set_exception makes get() rethrow and wait() return true") {
  gev::AsyncResult<int> a;
  auto g = gev::spawn([&] { return a.get(); });
  gev::sleep(0s);
  a.set_exception(std::make_exception_ptr(std::runtime_error("no result")));
  CHECK(a.ready());
  CHECK_FALSE(a.successful());
  CHECK(a.wait());
  g->join();
  CHECK_THROWS_WITH_AS(g->get(), "no result", std::runtime_error);
  CHECK_THROWS_AS(a.get(), std::runtime_error);
}

TEST_CASE("AsyncResult: get(timeout) throws gev::Timeout; get_nowait throws when not ready") {
  gev::AsyncResult<int> a;
  CHECK_THROWS_AS(a.get(10ms), gev::Timeout);
  CHECK_THROWS_AS(a.get_nowait(), gev::Timeout);
  CHECK_FALSE(a.wait(5ms));
  a.set(7);
  CHECK(a.get_nowait() == 7);
  CHECK(a.get(1s) == 7);
  a.set(8);  // replaces, as in gevent
  CHECK(a.get() == 8);
}

TEST_CASE("AsyncResult<void> and move-only values") {
  gev::AsyncResult<void> done;
  auto g = gev::spawn([&] {
    gev::sleep(1ms);
    done.set();
  });
  done.get();
  CHECK(done.successful());
  gev::AsyncResult<std::unique_ptr<int>> p;
  p.set(std::make_unique<int>(5));
  CHECK(*p.get() == 5);
  std::unique_ptr<int> taken = std::move(p.get());
  CHECK(*taken == 5);
  g->join();
}

TEST_CASE("AsyncResult: killing a waiter does not disturb the other waiters") {
  gev::AsyncResult<int> a;
  auto victim = gev::spawn([&] { return a.get(); });
  auto other = gev::spawn([&] { return a.get(); });
  gev::sleep(0s);
  victim->kill();
  a.set(3);
  CHECK(other->get() == 3);
  CHECK(victim->successful());  // killed with GreenletExit
}

TEST_CASE("AsyncResult: waiting in main with no setter raises LoopExit, not a hang") {
  gev::AsyncResult<int> a;
  CHECK_THROWS_AS(a.get(), gev::LoopExit);
}
