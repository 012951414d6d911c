// gev::Generator: next/send/close, RAII on close, exceptions, end of iteration, range-for,
// blocking bodies, interrupts delivered into the body, many generators across greenlets.
#include "gev/runtime/generator.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::holds;
using gev::test::Witness;

namespace {

gev::Generator<int> fib(int max) {
  return gev::Generator<int>([max](gev::Yield<int>& co) {
    int a = 0, b = 1;
    for (int n = 0; n < max; ++n) {
      co.yield(b);
      a = std::exchange(b, a + b);
    }
  });
}

gev::Generator<int> counting(int n, int* destroyed) {
  return gev::Generator<int>([n, destroyed](gev::Yield<int>& co) {
    Witness w(destroyed);
    for (int i = 0; i < n; ++i) co.yield(i);
  });
}

std::vector<int> drain(gev::Generator<int>& g) {
  std::vector<int> out;
  while (auto v = g.next()) out.push_back(*v);
  return out;
}

}  // namespace

TEST_CASE("next() yields each value, then empty at the end, and stays empty") {
  auto g = fib(5);
  CHECK_FALSE(g.started());
  CHECK(drain(g) == std::vector<int>{1, 1, 2, 3, 5});
  CHECK(g.finished());
  CHECK_FALSE(g.next());
  CHECK_FALSE(g.next());
  expect_quiet_hub();
}

TEST_CASE("nothing runs before the first next()") {
  bool ran = false;
  {
    gev::Generator<int> g([&](gev::Yield<int>& co) {
      ran = true;
      co.yield(1);
    });
    gev::sleep(0s);
    CHECK_FALSE(ran);
  }  // destroyed unstarted: the body never runs
  gev::sleep(0s);
  CHECK_FALSE(ran);
  CHECK(gev::get_hub().live_greenlets() == 0);
}

TEST_CASE("range-for: begin() primes, the loop ends cleanly") {
  std::vector<int> seen;
  for (int x : fib(7)) seen.push_back(x);
  CHECK(seen == std::vector<int>{1, 1, 2, 3, 5, 8, 13});

  seen.clear();
  for (int x : fib(0)) seen.push_back(x);
  CHECK(seen.empty());

  // Breaking out of the loop closes the generator (its temporary is destroyed).
  int destroyed = 0;
  for (int x : counting(100, &destroyed)) {
    if (x == 3) break;
  }
  CHECK(destroyed == 1);
  expect_quiet_hub();
}

TEST_CASE("send(): values go in, results come out (the seed's consumer)") {
  std::vector<int> consumed;
  gev::Generator<std::string, int> c([&](gev::Yield<std::string, int>& co) {
    std::string r;
    for (;;) {
      int n = co.yield(r);
      consumed.push_back(n);
      r = "200 OK " + std::to_string(n);
    }
  });
  CHECK_THROWS_AS(c.send(1), std::logic_error);  // a just-started generator must be primed
  CHECK(c.next() == std::optional<std::string>(""));
  for (int n = 1; n <= 5; ++n) CHECK(*c.send(n) == "200 OK " + std::to_string(n));
  CHECK(c.next() == std::optional<std::string>("200 OK 0"));  // next() sends S{}
  CHECK(consumed == std::vector<int>{1, 2, 3, 4, 5, 0});
  c.close();
  CHECK(c.finished());
  CHECK_FALSE(c.send(9));
  expect_quiet_hub();
}

TEST_CASE("close() unwinds the body's stack: RAII runs, the body sees GeneratorExit") {
  int destroyed = 0;
  bool saw_exit = false;
  gev::Generator<int> g([&](gev::Yield<int>& co) {
    Witness w(&destroyed);
    try {
      for (int i = 0;; ++i) co.yield(i);
    } catch (const gev::GeneratorExit&) {
      saw_exit = true;
      throw;
    }
  });
  CHECK(g.next() == 0);
  CHECK(g.next() == 1);
  g.close();
  CHECK(saw_exit);
  CHECK(destroyed == 1);
  CHECK(g.finished());
  CHECK_FALSE(g.next());
  g.close();  // again: a no-op
  expect_quiet_hub();
}

TEST_CASE("close(): a body that returns or throws GeneratorExit closes quietly; others raise") {
  SUBCASE("returns after catching") {
    gev::Generator<int> g([](gev::Yield<int>& co) {
      try {
        co.yield(1);
      } catch (const gev::GeneratorExit&) {
      }
    });
    g.next();
    CHECK_NOTHROW(g.close());
    CHECK(g.finished());
  }
  SUBCASE("throws something else") {
    gev::Generator<int> g([](gev::Yield<int>& co) {
      try {
        co.yield(1);
      } catch (const gev::GeneratorExit&) {
        throw std::runtime_error("cleanup failed");
      }
    });
    g.next();
    CHECK_THROWS_WITH_AS(g.close(), "cleanup failed", std::runtime_error);
    CHECK(g.finished());
  }
  SUBCASE("yields again: generator ignored GeneratorExit") {
    int destroyed = 0;
    {
      gev::Generator<int> g([&](gev::Yield<int>& co) {
        Witness w(&destroyed);
        try {
          co.yield(1);
        } catch (const gev::GeneratorExit&) {
          co.yield(2);
        }
      });
      g.next();
      CHECK_THROWS_AS(g.close(), std::runtime_error);
      CHECK_FALSE(g.finished());
      CHECK(destroyed == 0);
    }  // the destructor closes it again, at yield(2): now it ends
    CHECK(destroyed == 1);
  }
  SUBCASE("never started: the body never runs") {
    bool ran = false;
    gev::Generator<int> g([&](gev::Yield<int>&) { ran = true; });
    g.close();
    CHECK(g.finished());
    CHECK_FALSE(g.next());
    CHECK_FALSE(ran);
  }
  expect_quiet_hub();
}

TEST_CASE("the destructor of an unfinished generator closes it") {
  int destroyed = 0;
  {
    auto g = counting(10, &destroyed);
    CHECK(g.next() == 0);
    CHECK(g.next() == 1);
    CHECK(gev::get_hub().live_greenlets() == 1);  // its fiber holds a stack meanwhile
  }
  CHECK(destroyed == 1);
  CHECK(gev::get_hub().live_greenlets() == 0);

  // Moved-from handles do not close; the moved-to one does.
  {
    auto a = counting(10, &destroyed);
    a.next();
    auto b = std::move(a);
    CHECK(destroyed == 1);
    CHECK(b.next() == 1);
    a = counting(3, &destroyed);  // assigning over a moved-from handle
    CHECK(a.next() == 0);
    b = std::move(a);  // closes b's old generator
    CHECK(destroyed == 2);
    CHECK(b.next() == 1);
  }
  CHECK(destroyed == 3);
  expect_quiet_hub();
}

TEST_CASE("an exception thrown in the body propagates to next(); then the generator is done") {
  int destroyed = 0;
  gev::Generator<int> g([&](gev::Yield<int>& co) {
    Witness w(&destroyed);
    co.yield(1);
    throw std::runtime_error("boom");
  });
  CHECK(g.next() == 1);
  CHECK_THROWS_WITH_AS(g.next(), "boom", std::runtime_error);
  CHECK(destroyed == 1);
  CHECK(g.finished());
  CHECK_FALSE(g.next());

  gev::Generator<int> early([](gev::Yield<int>&) { throw std::invalid_argument("at once"); });
  CHECK_THROWS_AS(early.next(), std::invalid_argument);
  CHECK_FALSE(early.next());

  std::vector<int> seen;
  auto loop = [&] {
    for (int x : gev::Generator<int>([](gev::Yield<int>& co) {
           co.yield(7);
           throw std::runtime_error("mid-loop");
         })) {
      seen.push_back(x);
    }
  };
  CHECK_THROWS_WITH_AS(loop(), "mid-loop", std::runtime_error);
  CHECK(seen == std::vector<int>{7});
  expect_quiet_hub();
}

TEST_CASE("move-only values and references to state") {
  gev::Generator<std::unique_ptr<int>> g([](gev::Yield<std::unique_ptr<int>>& co) {
    for (int i = 0; i < 3; ++i) co.yield(std::make_unique<int>(i * 10));
  });
  int sum = 0;
  for (auto& p : g) sum += *p;
  CHECK(sum == 30);
  expect_quiet_hub();
}

TEST_CASE("resuming a running generator (e.g. from its own body) is an error") {
  gev::Generator<int>* self = nullptr;
  gev::Generator<int> g([&](gev::Yield<int>& co) {
    CHECK_THROWS_WITH_AS(self->next(), "gev: generator already executing", std::logic_error);
    CHECK_THROWS_AS(self->close(), std::logic_error);
    co.yield(1);
  });
  self = &g;
  CHECK(g.next() == 1);
  CHECK_FALSE(g.next());
  expect_quiet_hub();
}

TEST_CASE("a body may block: it sleeps while other greenlets run, and its caller waits") {
  int ticks = 0;
  auto ticker = gev::spawn([&] {
    for (int i = 0; i < 100 && ticks >= 0; ++i) {
      ++ticks;
      gev::sleep(1ms);
    }
  });
  gev::Generator<int> slow([](gev::Yield<int>& co) {
    for (int i = 0; i < 3; ++i) {
      gev::sleep(15ms);
      co.yield(i);
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int> seen;
  for (int x : slow) seen.push_back(x);
  CHECK(std::chrono::steady_clock::now() - t0 >= 44ms);
  CHECK(seen == std::vector<int>{0, 1, 2});
  CHECK(ticks >= 5);  // the hub ran the ticker while the body slept
  ticker->kill();
  expect_quiet_hub();
}

TEST_CASE("a body may wait on an Event set by another greenlet; sleep(0) in a body") {
  gev::Event ev;
  gev::Generator<std::string> g([&](gev::Yield<std::string>& co) {
    co.yield("before");
    ev.wait();
    gev::sleep(0s);
    co.yield("after");
  });
  auto setter = gev::spawn([&] { ev.set(); });
  CHECK(g.next() == "before");
  CHECK(g.next() == "after");
  CHECK_FALSE(g.next());
  setter->join();
  expect_quiet_hub();
}

TEST_CASE("a Timeout armed by the caller fires at the body's blocking point") {
  int destroyed = 0;
  gev::Generator<int> g([&](gev::Yield<int>& co) {
    Witness w(&destroyed);
    co.yield(1);
    gev::sleep(10s);
    co.yield(2);
  });
  CHECK(g.next() == 1);
  bool caught = false;
  {
    gev::Timeout t{20ms};
    try {
      g.next();
    } catch (const gev::Timeout& e) {
      caught = e.is(t);
    }
  }
  CHECK(caught);
  CHECK(destroyed == 1);  // the Timeout unwound the body
  CHECK(g.finished());
  CHECK_FALSE(g.next());
  expect_quiet_hub();
}

TEST_CASE("killing a greenlet whose generator body is blocked unwinds both") {
  int destroyed = 0;
  bool after_next = false;
  auto worker = gev::spawn([&] {
    gev::Generator<int> g([&](gev::Yield<int>& co) {
      Witness w(&destroyed);
      co.yield(1);
      gev::sleep(10s);
      co.yield(2);
    });
    g.next();
    g.next();
    after_next = true;
  });
  gev::sleep(10ms);
  CHECK(worker->kill({.timeout = 5s}));
  CHECK(worker->successful());  // GreenletExit
  CHECK_FALSE(after_next);
  CHECK(destroyed == 1);
  expect_quiet_hub();
}

TEST_CASE("a body that kills the greenlet it runs for unwinds at its next blocking point") {
  int destroyed = 0;
  bool after_kill = false;
  std::shared_ptr<gev::Greenlet<void>> worker;
  worker = gev::spawn([&] {
    gev::Generator<int> g([&](gev::Yield<int>& co) {
      Witness w(&destroyed);
      co.yield(1);
      worker->kill({.block = false});
      after_kill = true;
      gev::sleep(10s);  // the kill lands here
      co.yield(2);
    });
    g.next();
    g.next();
    FAIL("next() returned after the kill");
  });
  CHECK(worker->join(5s));
  CHECK(worker->successful());
  CHECK(holds<gev::GreenletExit>(worker->exception()));
  CHECK(after_kill);
  CHECK(destroyed == 1);
  expect_quiet_hub();
}

TEST_CASE("a body may be resumed from different greenlets, one at a time") {
  gev::Generator<int> shared([](gev::Yield<int>& co) {
    for (int i = 0;; ++i) {
      gev::sleep(5ms);
      co.yield(i);
    }
  });
  std::vector<int> got_a, got_b;
  bool b_saw_busy = false;
  auto a = gev::spawn([&] {
    for (int i = 0; i < 3; ++i) got_a.push_back(*shared.next());
  });
  auto b = gev::spawn([&] {
    gev::sleep(1ms);  // while a's next() is in the body's sleep
    try {
      shared.next();
    } catch (const std::logic_error&) {
      b_saw_busy = true;
    }
    a->join();
    for (int i = 0; i < 2; ++i) got_b.push_back(*shared.next());
  });
  gev::joinall({a, b});
  CHECK(b_saw_busy);
  CHECK(got_a == std::vector<int>{0, 1, 2});
  CHECK(got_b == std::vector<int>{3, 4});
  shared.close();
  expect_quiet_hub();
}

TEST_CASE("many generators interleaved across greenlets") {
  constexpr int kGreenlets = 200;
  constexpr int kItems = 20;
  std::vector<long> sums(kGreenlets, 0);
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int k = 0; k < kGreenlets; ++k) {
    gs.push_back(gev::spawn([k, &sums] {
      gev::Generator<int> g([k](gev::Yield<int>& co) {
        for (int i = 0; i < kItems; ++i) {
          if (i % 3 == 0) gev::sleep(0s);
          if (i % 7 == 0) gev::sleep(1ms);
          co.yield(k * 1000 + i);
        }
      });
      for (int x : g) {
        sums[k] += x;
        if (x % 2) gev::sleep(0s);  // the callers block too, between items
      }
    }));
  }
  gev::joinall(gs);
  for (int k = 0; k < kGreenlets; ++k) {
    CHECK(sums[k] == static_cast<long>(k) * 1000 * kItems + kItems * (kItems - 1) / 2);
  }
  expect_quiet_hub();
}

TEST_CASE("nested generators: a body iterates another generator that blocks") {
  auto inner = [] {
    return gev::Generator<int>([](gev::Yield<int>& co) {
      for (int i = 1; i <= 3; ++i) {
        gev::sleep(1ms);
        co.yield(i);
      }
    });
  };
  gev::Generator<int> outer([&](gev::Yield<int>& co) {
    for (int round = 0; round < 2; ++round) {
      for (int x : inner()) co.yield(x * 10);
    }
  });
  std::vector<int> seen;
  for (int x : outer) seen.push_back(x);
  CHECK(seen == std::vector<int>{10, 20, 30, 10, 20, 30});

  // A Timeout on the outermost caller reaches the innermost body.
  int destroyed = 0;
  gev::Generator<int> deep([&](gev::Yield<int>& co) {
    gev::Generator<int> blocked([&](gev::Yield<int>& co2) {
      Witness w(&destroyed);
      gev::sleep(10s);
      co2.yield(0);
    });
    for (int x : blocked) co.yield(x);
  });
  CHECK_THROWS_AS(([&] {
                    gev::Timeout t{10ms};
                    deep.next();
                  }()),
                  gev::Timeout);
  CHECK(destroyed == 1);
  CHECK(deep.finished());
  expect_quiet_hub();
}

TEST_CASE("a generator cannot be resumed inside the hub (a callback)") {
  gev::Generator<int> g([](gev::Yield<int>& co) { co.yield(1); });
  bool threw = false;
  gev::get_hub().call_soon([&] {
    try {
      g.next();
    } catch (const gev::BlockingSwitchOutError&) {
      threw = true;
    }
  });
  CHECK(gev::test::wait_until([&] { return threw; }));
  CHECK(g.next() == 1);
  g.close();
  expect_quiet_hub();
}

TEST_CASE("shutdown unwinds a suspended generator; it then reports its end") {
  // In a thread of its own, so shutdown() stops that thread's hub only.
  int destroyed = 0;
  bool ended = false;
  std::thread t([&] {
    auto g = counting(10, &destroyed);
    g.next();
    gev::shutdown();
    ended = !g.next().has_value();
  });
  t.join();
  CHECK(destroyed == 1);
  CHECK(ended);
}

TEST_CASE("a generator that never finishes is unwound when its thread's hub goes") {
  int destroyed = 0;
  std::thread t([&] {
    // A handle destroyed only after the hub is gone: thread_locals die in reverse order of
    // construction, and this one is made before the thread's hub.
    struct Late {
      gev::Generator<int>* g = nullptr;
      ~Late() { delete g; }  // by now the hub's teardown unwound the body: nothing to close
    };
    static thread_local Late late;
    late.g = new gev::Generator<int>(counting(10, &destroyed));
    late.g->next();
  });
  t.join();
  CHECK(destroyed == 1);
}

TEST_CASE("LoopExit: main waiting on a body that waits forever gets LoopExit, body unwound") {
  int destroyed = 0;
  gev::Event never;
  gev::Generator<int> g([&](gev::Yield<int>& co) {
    Witness w(&destroyed);
    never.wait();
    co.yield(1);
  });
  CHECK_THROWS_AS(g.next(), gev::LoopExit);
  CHECK(destroyed == 1);
  CHECK(g.finished());
  expect_quiet_hub();
}
