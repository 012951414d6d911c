// gev::ThreadPool and gev::ThreadResult.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gev/gev.hpp>
#include <gev/runtime/thread_pool.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::wait_until;

namespace {

int add(int a, int b) {
  return a + b;
}

// Something that may take a while and only blocks its own thread.
void block_for(std::chrono::milliseconds d) {
  std::this_thread::sleep_for(d);
}

}  // namespace

TEST_CASE("ThreadPool: spawn and apply return results computed on another thread") {
  gev::ThreadPool pool{2};
  CHECK(pool.size() == 2);
  CHECK(pool.thread_count() == 0);  // threads start lazily

  auto r = pool.spawn(add, 40, 2);
  CHECK_FALSE(r.ready());  // never synchronous: the result comes through the hub
  CHECK(r.get() == 42);
  CHECK(r.ready());
  CHECK(r.successful());
  CHECK(pool.thread_count() >= 1);

  CHECK(pool.apply([](std::string s) { return s + "!"; }, std::string("hi")) == "hi!");

  const auto main_thread = std::this_thread::get_id();
  auto other = pool.apply([] { return std::this_thread::get_id(); });
  CHECK(other != main_thread);

  // Move-only results and arguments.
  auto p = pool.apply([](std::unique_ptr<int> v) { return std::make_unique<int>(*v + 1); },
                      std::make_unique<int>(6));
  REQUIRE(p);
  CHECK(*p == 7);

  // void
  std::atomic<bool> ran{false};
  pool.apply([&ran] { ran = true; });
  CHECK(ran);
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: exceptions propagate to get(); wait() never rethrows") {
  gev::ThreadPool pool{1};
  auto r = pool.spawn([]() -> int { throw std::runtime_error("boom in a thread"); });
  CHECK(r.wait());
  CHECK(r.ready());
  CHECK_FALSE(r.successful());
  CHECK(gev::test::what_of(r.exception()) == "boom in a thread");
  CHECK_THROWS_WITH_AS(r.get(), "boom in a thread", std::runtime_error);
  CHECK_THROWS_AS(pool.apply([] { throw std::logic_error("again"); }), std::logic_error);
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: greenlets keep running while a task blocks its thread") {
  gev::ThreadPool pool{1};
  int ticks = 0;
  bool stop = false;
  auto ticker = gev::spawn([&] {
    while (!stop) {
      gev::sleep(10ms);
      ++ticks;
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  pool.apply(block_for, 200ms);  // main parks; the hub keeps running the ticker
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  stop = true;
  ticker->join();
  CHECK(elapsed >= 190ms);
  CHECK(ticks >= 8);  // ~20 expected; generous for a loaded machine
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: many concurrent tasks never exceed the pool size") {
  constexpr int kSize = 3, kTasks = 12;
  gev::ThreadPool pool{kSize};
  std::atomic<int> now{0}, peak{0};
  std::vector<gev::ThreadResult<int>> results;
  for (int i = 0; i < kTasks; ++i) {
    results.push_back(pool.spawn(
        [&now, &peak](int v) {
          int n = ++now;
          int p = peak.load();
          while (n > p && !peak.compare_exchange_weak(p, n)) {
          }
          std::this_thread::sleep_for(30ms);
          --now;
          return v * v;
        },
        i));
  }
  CHECK(pool.thread_count() <= static_cast<std::size_t>(kSize));
  // Wait from several greenlets at once.
  std::vector<std::shared_ptr<gev::Greenlet<int>>> waiters;
  for (int i = 0; i < kTasks; ++i) {
    waiters.push_back(gev::spawn([&results, i] { return results[i].get(); }));
  }
  for (int i = 0; i < kTasks; ++i) CHECK(waiters[i]->get() == i * i);
  CHECK(peak.load() <= kSize);
  CHECK(peak.load() == kSize);  // 12 tasks of 30 ms: all three threads were busy at once
  CHECK(pool.thread_count() == static_cast<std::size_t>(kSize));
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: killing the waiting greenlet, then the result arrives") {
  gev::ThreadPool pool{1};
  std::atomic<bool> finished{false};
  gev::ThreadResult<int> shared;
  auto g = gev::spawn([&] {
    shared = pool.spawn([&finished] {
      std::this_thread::sleep_for(100ms);
      finished = true;
      return 5;
    });
    return shared.get();
  });
  gev::sleep(20ms);
  CHECK(g->kill());
  CHECK(g->successful());  // GreenletExit
  CHECK_FALSE(finished.load());
  // The result still arrives and is kept in the handle; nobody crashes.
  CHECK(wait_until([&] { return shared.ready(); }, 5s));
  CHECK(finished.load());
  CHECK(shared.get() == 5);

  // The same with the only handle dropped by the killed greenlet.
  auto h = gev::spawn([&pool] { pool.spawn(block_for, 50ms).get(); });
  gev::sleep(10ms);
  h->kill();
  CHECK(pool.join(5s));
  gev::sleep(10ms);  // the dropped result's post runs harmlessly
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: get(timeout) throws gev::Timeout; the result is kept for later") {
  gev::ThreadPool pool{1};
  auto r = pool.spawn([] {
    std::this_thread::sleep_for(100ms);
    return 9;
  });
  CHECK_THROWS_AS(r.get(10ms), gev::Timeout);
  CHECK_FALSE(r.wait(10ms));
  CHECK_FALSE(r.ready());
  CHECK(r.get(5s) == 9);
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: no LoopExit while a task is in flight; gev::wait() waits for it") {
  gev::ThreadPool pool{1};
  // Main is the only greenlet: without the pool's KeepAlive this wait would raise LoopExit.
  auto r = pool.spawn([] {
    std::this_thread::sleep_for(50ms);
    return 1;
  });
  CHECK_NOTHROW(CHECK(r.get() == 1));

  std::atomic<bool> done{false};
  pool.spawn([&done] {
    std::this_thread::sleep_for(50ms);
    done = true;
  });
  CHECK(gev::wait(5s));
  CHECK(done.load());

  // And after the tasks, waiting on nothing raises LoopExit again (no KeepAlive leaked).
  CHECK_THROWS_AS(gev::get_hub().park("nothing"), gev::LoopExit);
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: join() waits cooperatively for every queued task") {
  gev::ThreadPool pool{2};
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i) {
    pool.spawn([&done] {
      std::this_thread::sleep_for(20ms);
      ++done;
    });
  }
  int ticks = 0;
  auto ticker = gev::spawn([&ticks] {
    for (;;) {
      gev::sleep(5ms);
      ++ticks;
    }
  });
  CHECK(pool.join());
  CHECK(done.load() == 6);
  CHECK(pool.queued() == 0);
  CHECK(pool.running() == 0);
  CHECK(ticks >= 3);
  ticker->kill();
  CHECK(pool.join(0s));  // idle: at once

  pool.spawn(block_for, 200ms);
  CHECK_FALSE(pool.join(20ms));
  CHECK(pool.join(5s));
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: shutdown runs what is queued and joins the threads") {
  std::atomic<int> done{0};
  gev::ThreadPool pool{1};
  std::vector<gev::ThreadResult<void>> rs;
  for (int i = 0; i < 3; ++i) {
    rs.push_back(pool.spawn([&done] {
      std::this_thread::sleep_for(30ms);
      ++done;
    }));
  }
  pool.shutdown();  // blocks this thread until all three ran
  CHECK(done.load() == 3);
  CHECK(pool.closed());
  CHECK(pool.thread_count() == 0);
  CHECK_THROWS_AS(pool.spawn([] {}), gev::ThreadPoolClosed);
  for (auto& r : rs) CHECK_NOTHROW(r.get());  // delivered through the hub
  pool.shutdown();                            // idempotent
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: kill cancels queued tasks and lets the running one finish") {
  std::atomic<bool> first_done{false}, second_ran{false};
  std::optional<gev::ThreadResult<void>> first, second;
  {
    gev::ThreadPool pool{1};
    first = pool.spawn([&first_done] {
      std::this_thread::sleep_for(80ms);
      first_done = true;
    });
    second = pool.spawn([&second_ran] { second_ran = true; });
    gev::sleep(20ms);  // the first is running, the second queued
    pool.kill();
    CHECK(first_done.load());
    CHECK(pool.thread_count() == 0);
  }  // the destructor (kill again) is a no-op
  CHECK_NOTHROW(first->get());
  CHECK_THROWS_AS(second->get(), gev::ThreadPoolClosed);
  CHECK_FALSE(second_ran.load());
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: the destructor joins a pool with work in flight") {
  std::atomic<int> done{0};
  {
    gev::ThreadPool pool{2};
    pool.spawn([&done] {
      std::this_thread::sleep_for(30ms);
      ++done;
    });
    pool.spawn([&done] {
      std::this_thread::sleep_for(30ms);
      ++done;
    });
    gev::sleep(5ms);
  }
  CHECK(done.load() == 2);
  gev::sleep(1ms);  // the results' posts find their states alive (held by the posts)
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: resize") {
  gev::ThreadPool pool{1};
  std::atomic<int> now{0}, peak{0};
  auto task = [&now, &peak] {
    int n = ++now;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
    std::this_thread::sleep_for(30ms);
    --now;
  };
  for (int i = 0; i < 4; ++i) pool.spawn(task);
  pool.resize(4);
  CHECK(pool.size() == 4);
  CHECK(pool.join(5s));
  CHECK(peak.load() >= 2);
  pool.resize(1);
  CHECK(wait_until([&] { return pool.thread_count() == 1; }, 5s));
  CHECK(pool.apply([] { return 3; }) == 3);
  expect_quiet_hub();
}

TEST_CASE("ThreadPool: used from a second hub thread") {
  gev::ThreadPool pool{2};
  gev::HubThread other;
  auto fut = other.submit([&pool] { return pool.apply(add, 1, 2); });
  CHECK(pool.apply(add, 3, 4) == 7);
  CHECK(fut.get() == 3);
  expect_quiet_hub();
}

TEST_CASE("ThreadResult: a default-constructed handle is invalid, not undefined behaviour") {
  gev::ThreadResult<int> none;
  CHECK_FALSE(none.valid());
  CHECK_FALSE(none.ready());
  CHECK_FALSE(none.successful());
  CHECK(none.exception() == nullptr);
  CHECK_THROWS_AS(none.get(), std::logic_error);
  CHECK_THROWS_AS(none.wait(), std::logic_error);
}
