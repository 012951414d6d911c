// gev::local<T>: per-greenlet values, created on first access, destroyed when the greenlet
// finishes or the local goes; main has its own; generator bodies see their caller's.
#include "gev/runtime/local.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gev/gev.hpp>

#include "gev/runtime/generator.hpp"
#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;

namespace {

struct Counted {
  static inline int alive = 0;
  static inline int made = 0;
  int value = 0;
  Counted() {
    ++alive;
    ++made;
  }
  explicit Counted(int v) : Counted() { value = v; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { --alive; }
};

void reset_counts() {
  Counted::alive = 0;
  Counted::made = 0;
}

}  // namespace

TEST_CASE("each greenlet sees its own value; main has its own") {
  gev::local<int> x;
  *x = 1;  // main's
  std::vector<int> seen(10, -1);
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 10; ++i) {
    gs.push_back(gev::spawn([&, i] {
      CHECK(x.get() == 0);  // default-constructed on first access
      CHECK(x.has_value());
      x.get() = i * 100;
      gev::sleep(1ms);  // the others write theirs meanwhile
      seen[i] = *x;
    }));
  }
  gev::joinall(gs);
  for (int i = 0; i < 10; ++i) CHECK(seen[i] == i * 100);
  CHECK(*x == 1);
  expect_quiet_hub();
}

TEST_CASE("values are destroyed when their greenlet finishes (also when killed)") {
  reset_counts();
  {
    gev::local<Counted> c;
    auto a = gev::spawn([&] {
      c->value = 1;
      gev::sleep(5ms);
    });
    auto b = gev::spawn([&] {
      c->value = 2;
      gev::sleep(10s);
    });
    auto untouched = gev::spawn([] { gev::sleep(1ms); });
    gev::sleep(1ms);
    CHECK(Counted::alive == 2);
    a->join();
    CHECK(Counted::alive == 1);
    b->kill();
    CHECK(Counted::alive == 0);
    untouched->join();
    CHECK(Counted::made == 2);
  }
  CHECK(Counted::alive == 0);
  expect_quiet_hub();
}

TEST_CASE("destroying the local destroys every greenlet's value, including main's") {
  reset_counts();
  gev::Event go;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  {
    gev::local<Counted> c;
    c.get();  // main's
    for (int i = 0; i < 5; ++i) {
      gs.push_back(gev::spawn([&] {
        c.get();
        go.wait();  // still alive when the local goes
      }));
    }
    gev::sleep(1ms);
    CHECK(Counted::alive == 6);
  }
  CHECK(Counted::alive == 0);
  go.set();
  gev::joinall(gs);  // their storage no longer holds anything of the dead local
  CHECK(Counted::alive == 0);
  expect_quiet_hub();
}

TEST_CASE("a factory makes the first value in each greenlet; reset() drops the current one") {
  reset_counts();
  int calls = 0;
  gev::local<std::unique_ptr<Counted>> p([&] { return std::make_unique<Counted>(++calls); });
  CHECK((*p)->value == 1);
  CHECK((*p)->value == 1);
  auto g = gev::spawn([&] { CHECK((*p)->value == 2); });
  g->join();
  CHECK(Counted::alive == 1);
  p.reset();
  CHECK(Counted::alive == 0);
  CHECK_FALSE(p.has_value());
  CHECK((*p)->value == 3);
  p.reset();
  expect_quiet_hub();
}

TEST_CASE("several locals in one greenlet are independent") {
  gev::local<int> a;
  gev::local<std::string> b;
  gev::local<int> c;
  auto g = gev::spawn([&] {
    *a = 1;
    *b = "two";
    *c = 3;
    gev::sleep(0s);
    CHECK(*a == 1);
    CHECK(*b == "two");
    CHECK(*c == 3);
  });
  g->join();
  CHECK(*a == 0);
  CHECK(b->empty());
  expect_quiet_hub();
}

TEST_CASE("a generator body sees the values of the greenlet it runs for") {
  gev::local<std::string> who;
  auto gen = [&] {
    return gev::Generator<std::string>([&](gev::Yield<std::string>& co) {
      for (int i = 0; i < 2; ++i) {
        gev::sleep(1ms);
        co.yield(*who);
      }
    });
  };
  *who = "main";
  auto g = gen();
  CHECK(g.next() == "main");
  auto other = gev::spawn([&] {
    *who = "other";
    CHECK(g.next() == "other");  // the same generator, resumed by another greenlet
    auto mine = gen();
    CHECK(mine.next() == "other");
  });
  other->join();
  CHECK(*who == "main");
  g.close();
  expect_quiet_hub();
}

TEST_CASE("values of main and of greenlets in another thread are per thread and freed") {
  reset_counts();
  gev::local<Counted> c;
  c.get();
  std::thread t([&] {
    c->value = 7;  // that thread's main greenlet
    auto g = gev::spawn([&] { c->value = 8; });
    g->join();
    CHECK(c->value == 7);
  });
  t.join();  // the thread's hub is gone: its main greenlet's value was destroyed with it
  CHECK(Counted::alive == 1);
  CHECK(c->value == 0);
}
