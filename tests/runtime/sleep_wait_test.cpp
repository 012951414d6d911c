// sleep, idle, wait, getcurrent and LoopExit as seen from the runtime API.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;

TEST_CASE("sleep(0) lets every other ready greenlet run, in FIFO order") {
  std::vector<std::string> order;
  auto a = gev::spawn([&] {
    order.push_back("a1");
    gev::sleep(0s);
    order.push_back("a2");
  });
  auto b = gev::spawn([&] {
    order.push_back("b1");
    gev::sleep(0s);
    order.push_back("b2");
  });
  gev::joinall({a, b});
  CHECK(order == std::vector<std::string>{"a1", "b1", "a2", "b2"});
  expect_quiet_hub();
}

TEST_CASE("sleep(d) parks for at least d while others run") {
  int ticks = 0;
  auto ticker = gev::spawn([&] {
    for (int i = 0; i < 5; ++i) {
      gev::sleep(1ms);
      ++ticks;
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  gev::sleep(40ms);
  CHECK(std::chrono::steady_clock::now() - t0 >= 39ms);
  CHECK(ticker->join(10s));
  CHECK(ticks == 5);
  expect_quiet_hub();
}

TEST_CASE("getcurrent is null in main and the greenlet inside one") {
  CHECK(gev::getcurrent() == nullptr);
  gev::GreenletBase* inside = nullptr;
  auto g = gev::spawn([&] { inside = gev::getcurrent(); });
  g->join();
  CHECK(inside == g.get());
  CHECK(gev::getcurrent() == nullptr);
}

TEST_CASE("wait() runs until nothing is left to do") {
  int done = 0;
  for (int i = 0; i < 10; ++i) {
    gev::spawn([&, i] {
      gev::sleep(std::chrono::milliseconds(i));
      ++done;
    });
  }
  CHECK(gev::wait());
  CHECK(done == 10);
  CHECK(gev::get_hub().live_greenlets() == 0);
}

TEST_CASE("wait(timeout) returns false while work remains") {
  auto g = gev::spawn([] { gev::sleep(1h); });
  CHECK_FALSE(gev::wait(10ms));
  g->kill();
  expect_quiet_hub();
}

TEST_CASE("wait(timeout) returns true once everything is done, before the timeout") {
  int done = 0;
  for (int i = 0; i < 3; ++i) {
    gev::spawn([&] {
      gev::sleep(2ms);
      ++done;
    });
  }
  const auto t0 = std::chrono::steady_clock::now();
  const bool idle = gev::wait(3s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(done == 3);
  CHECK(idle);
  CHECK(elapsed < 2500ms);  // it did not sit out the whole timeout

  // Nothing to do at all.
  CHECK(gev::wait(1s));
  expect_quiet_hub();
}

TEST_CASE("idle() resumes when nothing else is ready") {
  std::vector<std::string> order;
  auto busy = gev::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      order.push_back("busy");
      gev::sleep(0s);
    }
  });
  auto idler = gev::spawn([&] {
    gev::idle();
    order.push_back("idle");
  });
  gev::joinall({busy, idler});
  REQUIRE(order.size() == 4);
  CHECK(order.back() == "idle");
  expect_quiet_hub();
}

TEST_CASE("LoopExit: main joining a deadlocked pair instead of hanging") {
  std::shared_ptr<gev::Greenlet<void>> a, b;
  a = gev::spawn(gev::SpawnOptions{.name = "deadlock-a"}, [&] { b->join(); });
  b = gev::spawn(gev::SpawnOptions{.name = "deadlock-b"}, [&] { a->join(); });
  std::string message;
  try {
    a->join();
  } catch (const gev::LoopExit& e) {
    message = e.what();
  }
  CHECK(message.find("deadlock-a") != std::string::npos);
  CHECK(message.find("deadlock-b") != std::string::npos);
  CHECK_FALSE(a->ready());
  gev::killall({a, b});
  CHECK(a->dead());
  CHECK(b->dead());
  a.reset();
  b.reset();
  expect_quiet_hub();
}

TEST_CASE("sleep inside the hub is refused with BlockingSwitchOutError") {
  bool refused = false;
  gev::get_hub().call_soon([&] {
    try {
      gev::sleep(1ms);
    } catch (const gev::BlockingSwitchOutError&) {
      refused = true;
    }
  });
  gev::sleep(1ms);
  CHECK(refused);
}
