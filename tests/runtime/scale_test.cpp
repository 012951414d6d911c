// Many greenlets at once (bounded; the 1M-parked case lives in the benchmarks).
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <vector>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;

TEST_CASE("100k greenlets that each sleep(10ms) all complete") {
  constexpr int kCount = 100'000;
  int completed = 0;
  std::vector<std::shared_ptr<gev::Greenlet<int>>> gs;
  gs.reserve(kCount);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i) {
    gs.push_back(gev::spawn([&completed, i] {
      gev::sleep(10ms);
      ++completed;
      return i;
    }));
  }
  auto done = gev::joinall(gs, 120s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  MESSAGE("100k x sleep(10ms): "
          << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
  CHECK(done.size() == kCount);
  CHECK(completed == kCount);
  long long sum = 0;
  bool all_ok = true;
  for (auto& g : gs) {
    all_ok = all_ok && g->successful();
    if (g->value()) sum += *g->value();
  }
  CHECK(all_ok);
  CHECK(sum == static_cast<long long>(kCount) * (kCount - 1) / 2);
  CHECK(elapsed >= 10ms);
  gs.clear();
  expect_quiet_hub();
}

TEST_CASE("100k spawned-and-dropped greenlets finish without handles") {
  constexpr int kCount = 100'000;
  int completed = 0;
  for (int i = 0; i < kCount; ++i) {
    gev::spawn([&completed] {
      gev::sleep(0s);
      ++completed;
    });
  }
  CHECK(gev::test::wait_until([&] { return completed == kCount; }, 120s));
  CHECK(completed == kCount);
  expect_quiet_hub();
}

TEST_CASE("20k parked greenlets are killed with killall; every stack unwinds") {
  constexpr int kCount = 20'000;
  int destroyed = 0, running = 0;
  gev::GreenletList gs;
  gs.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    gs.push_back(gev::spawn([&] {
      gev::test::Witness w{&destroyed};
      ++running;
      gev::sleep(1h);
    }));
  }
  CHECK(gev::test::wait_until([&] { return running == kCount; }, 120s));
  CHECK(gev::get_hub().live_greenlets() >= static_cast<std::size_t>(kCount));
  CHECK(gev::killall(gs, {.timeout = 120s}));
  CHECK(destroyed == kCount);
  gs.clear();
  expect_quiet_hub();
}

TEST_CASE("a long chain of joins resolves") {
  constexpr int kCount = 10'000;
  std::vector<std::shared_ptr<gev::Greenlet<int>>> chain;
  chain.reserve(kCount);
  chain.push_back(gev::spawn([] {
    gev::sleep(1ms);
    return 0;
  }));
  for (int i = 1; i < kCount; ++i) {
    auto prev = chain.back();
    chain.push_back(gev::spawn([prev] { return prev->get() + 1; }));
  }
  CHECK(chain.back()->get(120s) == kCount - 1);
  chain.clear();
  expect_quiet_hub();
}
