// Semaphore, BoundedSemaphore, Lock, RLock: every operation, timeouts, FIFO hand-off, kills and
// Timeouts of parked acquirers (no leaked permit), overflow and ownership errors, std adaptors.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <gev/gev.hpp>
#include <gev/runtime/lock.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::wait_until;

static_assert(std::is_base_of_v<std::logic_error, gev::SemaphoreOverflow>);
static_assert(std::is_base_of_v<std::logic_error, gev::LockNotOwned>);
static_assert(std::is_base_of_v<gev::BoundedSemaphore, gev::Lock>);
static_assert(std::is_base_of_v<gev::Semaphore, gev::BoundedSemaphore>);

TEST_CASE("Semaphore: counter, non-blocking acquire, release, locked") {
  gev::Semaphore s{2};
  CHECK(s.counter() == 2);
  CHECK_FALSE(s.locked());
  CHECK(s.acquire());
  CHECK(s.acquire(false));
  CHECK(s.counter() == 0);
  CHECK(s.locked());
  CHECK_FALSE(s.acquire(false));
  CHECK_FALSE(s.try_lock());
  s.release();
  CHECK(s.counter() == 1);
  s.release();
  s.release();  // unbounded: may exceed the initial value
  CHECK(s.counter() == 3);
  gev::Semaphore zero{0};
  CHECK(zero.locked());
  CHECK_FALSE(zero.acquire(false));
  gev::Semaphore def;
  CHECK(def.counter() == 1);
  expect_quiet_hub();
}

TEST_CASE("Semaphore: acquire timeout returns false and leaves the count alone") {
  gev::Semaphore s{0};
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(s.acquire(20ms));
  CHECK(std::chrono::steady_clock::now() - t0 >= 15ms);
  CHECK_FALSE(s.acquire(true, 0ms));
  CHECK_FALSE(s.try_lock_for(5ms));
  CHECK_FALSE(s.try_lock_until(std::chrono::steady_clock::now() + 5ms));
  CHECK(s.counter() == 0);
  CHECK(s.waiting() == 0);
  s.release();
  CHECK(s.acquire(1s));
  expect_quiet_hub();
}

TEST_CASE("Semaphore: a parked acquirer is woken by release") {
  gev::Semaphore s{0};
  bool got = false;
  auto g = gev::spawn([&] { got = s.acquire(5s); });
  gev::sleep(5ms);
  CHECK(s.waiting() == 1);
  CHECK_FALSE(got);
  s.release();
  CHECK(g->join(5s));
  CHECK(got);
  CHECK(s.counter() == 0);
  expect_quiet_hub();
}

TEST_CASE("Semaphore: FIFO wake order and no barging") {
  gev::Semaphore s{0};
  std::vector<int> order;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(gev::spawn([&, i] {
      s.acquire();
      order.push_back(i);
    }));
  }
  gev::sleep(5ms);
  CHECK(s.waiting() == 5);
  // A release hands the permit to the first waiter: main cannot take it back right away.
  s.release();
  CHECK(s.counter() == 0);
  CHECK_FALSE(s.acquire(false));
  for (int i = 0; i < 4; ++i) s.release();
  gev::joinall(gs, 5s);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(s.counter() == 0);
  expect_quiet_hub();
}

TEST_CASE("Semaphore: a greenlet spawned after a release does not overtake parked waiters") {
  gev::Semaphore s{1};
  std::vector<std::string> order;
  s.acquire();
  auto a = gev::spawn([&] {
    s.acquire();
    order.push_back("a");
    gev::sleep(1ms);
    s.release();
  });
  gev::sleep(2ms);
  s.release();  // handed to a
  auto b = gev::spawn([&] {
    s.acquire();
    order.push_back("b");
    s.release();
  });
  gev::joinall({a, b}, 5s);
  CHECK(order == std::vector<std::string>{"a", "b"});
  CHECK(s.counter() == 1);
  expect_quiet_hub();
}

TEST_CASE("Semaphore: killing a parked acquirer leaves no trace") {
  gev::Semaphore s{0};
  auto g = gev::spawn([&] { s.acquire(); });
  gev::sleep(2ms);
  CHECK(s.waiting() == 1);
  CHECK(g->kill());
  CHECK(s.waiting() == 0);
  s.release();
  CHECK(s.counter() == 1);
  expect_quiet_hub();
}

TEST_CASE("Semaphore: a waiter killed after being handed a permit gives it to the next one") {
  gev::Semaphore s{0};
  bool first_got = false;
  bool second_got = false;
  auto first = gev::spawn([&] { first_got = s.acquire(); });
  auto second = gev::spawn([&] { second_got = s.acquire(); });
  gev::sleep(2ms);
  REQUIRE(s.waiting() == 2);
  s.release();  // handed to `first`, which has not run yet
  CHECK(s.counter() == 0);
  first->kill({.block = false});  // killed before it could take the permit
  CHECK(second->join(5s));
  CHECK(first->join(5s));
  CHECK_FALSE(first_got);
  CHECK(second_got);
  CHECK(s.counter() == 0);
  CHECK(s.waiting() == 0);
  expect_quiet_hub();
}

TEST_CASE("Semaphore: a handed permit with nobody else waiting returns to the counter") {
  gev::Semaphore s{0};
  auto g = gev::spawn([&] { s.acquire(); });
  gev::sleep(2ms);
  s.release();
  g->kill({.block = false});
  CHECK(g->join(5s));
  CHECK(s.counter() == 1);
  CHECK(s.acquire(false));
  expect_quiet_hub();
}

TEST_CASE("Semaphore: gev::Timeout in a parked acquirer, after a hand-off too") {
  gev::Semaphore s{0};
  auto g = gev::spawn([&] {
    gev::Timeout t{10ms};
    try {
      s.acquire();
      return 1;
    } catch (const gev::Timeout& e) {
      return e.is(t) ? 2 : 3;
    }
  });
  CHECK(g->get() == 2);
  CHECK(s.waiting() == 0);
  CHECK(s.counter() == 0);

  // Many acquirers, half killed at random points around releases: permits are conserved.
  gev::Semaphore t{0};
  int holders = 0;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 20; ++i) {
    gs.push_back(gev::spawn([&] {
      t.acquire();
      ++holders;
    }));
  }
  gev::sleep(2ms);
  for (int i = 0; i < 10; ++i) t.release();
  for (int i = 0; i < 20; i += 2) gs[i]->kill({.block = false});
  gev::joinall(gs, 50ms);
  // 10 permits: every one ended in a holder or back in the counter.
  CHECK(static_cast<std::size_t>(holders) + t.counter() == 10);
  CHECK(t.waiting() == static_cast<std::size_t>(10 - holders));
  for (int i = 0; i < 10; ++i) t.release();
  CHECK(gev::joinall(gs, 5s).size() == gs.size());
  CHECK(holders == 10);
  CHECK(t.counter() == 10);
  expect_quiet_hub();
}

TEST_CASE("Semaphore: wait() waits for a permit without taking it") {
  gev::Semaphore s{1};
  CHECK(s.wait());
  CHECK(s.wait(0ms));
  CHECK(s.counter() == 1);
  s.acquire();
  CHECK_FALSE(s.wait(10ms));
  bool woke = false;
  auto g = gev::spawn([&] { woke = s.wait(5s); });
  gev::sleep(2ms);
  CHECK_FALSE(woke);
  s.release();
  CHECK(g->join(5s));
  CHECK(woke);
  CHECK(s.counter() == 1);

  // A permit handed to an acquirer does not wake a wait()er.
  s.acquire();
  auto acquirer = gev::spawn([&] { s.acquire(); });
  bool watcher_woke = false;
  auto watcher = gev::spawn([&] { watcher_woke = s.wait(30ms); });
  gev::sleep(2ms);
  s.release();
  CHECK(acquirer->join(5s));
  CHECK(watcher->join(5s));
  CHECK_FALSE(watcher_woke);
  s.release();
  expect_quiet_hub();
}

TEST_CASE("BoundedSemaphore: release beyond the initial value throws SemaphoreOverflow") {
  gev::BoundedSemaphore b{2};
  CHECK_THROWS_AS(b.release(), gev::SemaphoreOverflow);
  b.acquire();
  b.acquire();
  b.release();
  b.release();
  CHECK(b.counter() == 2);
  try {
    b.release();
    FAIL("no overflow");
  } catch (const gev::SemaphoreOverflow& e) {
    CHECK(std::string(e.what()).find("BoundedSemaphore") != std::string::npos);
  }
  CHECK(b.counter() == 2);
  gev::BoundedSemaphore one;
  CHECK(one.counter() == 1);
  expect_quiet_hub();
}

TEST_CASE("Lock: binary, released by anyone, releasing an unlocked Lock throws") {
  gev::Lock lock;
  CHECK_FALSE(lock.locked());
  CHECK_THROWS_AS(lock.release(), gev::SemaphoreOverflow);
  CHECK(lock.acquire());
  CHECK(lock.locked());
  CHECK_FALSE(lock.acquire(false));
  CHECK_FALSE(lock.acquire(5ms));
  // Another greenlet may release it (gevent's and Python's Lock).
  auto g = gev::spawn([&] { lock.release(); });
  CHECK(g->join(5s));
  CHECK(g->successful());
  CHECK_FALSE(lock.locked());
  expect_quiet_hub();
}

TEST_CASE("Lock: std::lock_guard, std::unique_lock, std::scoped_lock serialise greenlets") {
  gev::Lock lock;
  int inside = 0;
  int max_inside = 0;
  int total = 0;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 10; ++i) {
    gs.push_back(gev::spawn([&] {
      for (int k = 0; k < 3; ++k) {
        std::lock_guard guard{lock};
        ++inside;
        max_inside = std::max(max_inside, inside);
        gev::sleep(0s);
        ++total;
        --inside;
      }
    }));
  }
  CHECK(gev::joinall(gs, 10s).size() == gs.size());
  CHECK(max_inside == 1);
  CHECK(total == 30);
  CHECK_FALSE(lock.locked());

  {
    std::unique_lock ul{lock, std::defer_lock};
    CHECK(ul.try_lock());
    CHECK(lock.locked());
    ul.unlock();
    CHECK(ul.try_lock_for(10ms));
    auto h = gev::spawn([&] {
      std::unique_lock other{lock, std::defer_lock};
      return other.try_lock_for(10ms);
    });
    CHECK_FALSE(h->get());
  }
  CHECK_FALSE(lock.locked());

  gev::Lock other;
  gev::Semaphore sem{1};
  {
    std::scoped_lock both{lock, other, sem};
    CHECK(lock.locked());
    CHECK(other.locked());
    CHECK(sem.locked());
  }
  CHECK_FALSE(lock.locked());
  CHECK_FALSE(other.locked());
  CHECK(sem.counter() == 1);
  expect_quiet_hub();
}

TEST_CASE("RLock: reentrant for its owner, counted, exclusive for others") {
  gev::RLock r;
  CHECK_FALSE(r.locked());
  CHECK_FALSE(r.is_owned());
  CHECK(r.acquire());
  CHECK(r.acquire());
  CHECK(r.acquire(false));
  CHECK(r.count() == 3);
  CHECK(r.is_owned());
  CHECK(r.locked());

  auto other = gev::spawn([&] {
    CHECK_FALSE(r.is_owned());
    CHECK_FALSE(r.acquire(false));
    return r.acquire(10ms);
  });
  CHECK_FALSE(other->get());

  r.release();
  r.release();
  CHECK(r.locked());
  CHECK(r.count() == 1);
  auto waiter = gev::spawn([&] {
    r.acquire();
    CHECK(r.is_owned());
    CHECK(r.count() == 1);
    r.acquire();
    r.release();
    r.release();
    return true;
  });
  gev::sleep(2ms);
  CHECK_FALSE(waiter->ready());
  r.release();
  CHECK(waiter->get(5s));
  CHECK_FALSE(r.locked());
  CHECK(r.count() == 0);
  expect_quiet_hub();
}

TEST_CASE("RLock: release by a non-owner, or when free, throws LockNotOwned") {
  gev::test::CaptureErrors errors;
  gev::RLock r;
  CHECK_THROWS_AS(r.release(), gev::LockNotOwned);
  r.acquire();
  auto g = gev::spawn([&] { r.release(); });
  g->join(5s);
  CHECK_FALSE(g->successful());
  CHECK(gev::test::holds<gev::LockNotOwned>(g->exception()));
  CHECK(errors.count() == 1);
  CHECK(r.is_owned());
  CHECK(r.count() == 1);
  r.release();
  CHECK_FALSE(r.locked());

  // A greenlet holding it is distinct from main.
  auto holder = gev::spawn([&] {
    r.acquire();
    gev::sleep(20ms);
    r.release();
  });
  gev::sleep(2ms);
  CHECK(r.locked());
  CHECK_FALSE(r.is_owned());
  CHECK_THROWS_AS(r.release(), gev::LockNotOwned);
  CHECK(holder->join(5s));
  CHECK(holder->successful());
  expect_quiet_hub();
}

TEST_CASE("RLock: FIFO among waiters, kill of a parked waiter, std adaptors") {
  gev::RLock r;
  r.acquire();
  std::vector<int> order;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(gev::spawn([&, i] {
      std::lock_guard outer{r};
      std::unique_lock inner{r};  // reentrant
      order.push_back(i);
      gev::sleep(0s);
    }));
  }
  gev::sleep(2ms);
  gs[1]->kill();
  r.release();
  CHECK(gev::joinall(gs, 5s).size() == gs.size());
  CHECK(order == std::vector<int>{0, 2, 3});
  CHECK_FALSE(r.locked());
  CHECK(r.try_lock());
  CHECK(r.try_lock_for(1ms));
  r.unlock();
  r.unlock();
  CHECK_FALSE(r.locked());
  expect_quiet_hub();
}

TEST_CASE("Semaphore: in the hub, non-blocking calls work and blocking ones refuse") {
  gev::Semaphore s{0};
  bool refused = false;
  bool released = false;
  gev::get_hub().call_soon([&] {
    try {
      s.acquire();
    } catch (const gev::BlockingSwitchOutError&) {
      refused = true;
    }
    s.release();
    released = true;
  });
  CHECK(wait_until([&] { return released; }));
  CHECK(refused);
  CHECK(s.counter() == 1);
  CHECK(s.waiting() == 0);
  expect_quiet_hub();
}

TEST_CASE("Semaphore: another thread's use is refused") {
  gev::Semaphore s{1};
  std::string error;
  std::thread t([&] {
    try {
      s.release();
    } catch (const gev::InvalidThreadUseError& e) {
      error = e.what();
    }
  });
  t.join();
  CHECK_FALSE(error.empty());
  CHECK(s.counter() == 1);
}
