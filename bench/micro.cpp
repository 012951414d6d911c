// gev micro-benchmarks (Google Benchmark). Every benchmark reports its headline figure as a
// counter in nanoseconds per operation ("ns_per_yield", "ns_per_op", ...), computed from wall
// time, so the numbers line up with the peers in bench/peers/ (gevent, Go), which measure the
// same operations. bench/run.sh runs this with --benchmark_format=json and reads the counters.
//
//   BM_yield               two greenlets ping-pong through the hub with gev::sleep(0s)
//   BM_spawn_join          spawn a trivial greenlet, join it
//   BM_sleep_100k          100k greenlets each sleep(10ms): total wall time incl. spawn + join
//   BM_timeout_arm_cancel  RAII gev::Timeout: construct (arm) + destroy (cancel)
//   BM_wake_100k           100k greenlets parked in Event::wait(), woken by one Event::set()
//                          (timed until the last one has woken, as Go's WaitGroup)
//   BM_queue_pingpong      two greenlets bounce an int through two Queue<int>s: ns per round trip
//   BM_pool_100k           Pool(1000): spawn 100k trivial tasks, join: total seconds
//   BM_raw_switch          Boost.Context fiber ping-pong: the floor under every gev switch. gev
//                          does not expose a raw switch, so this measures the library gev
//                          switches with, not gev itself.
#include <benchmark/benchmark.h>

#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <gev/gev.hpp>
#include <memory>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Sets `name` to wall-clock nanoseconds per op. Google Benchmark divides a kIsRate counter by the
// elapsed (real or manual) seconds and kInvert flips it: seconds * 1e9 / ops.
void report_ns_per(benchmark::State& state, const char* name, double ops) {
  state.counters[name] =
      benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "gev_micro: %s\n", what);
  std::exit(2);
}

void BM_yield(benchmark::State& state) {
  constexpr int kYieldsEach = 10'000;
  auto pinger = [] {
    for (int i = 0; i < kYieldsEach; ++i) gev::sleep(0s);
  };
  for (auto _ : state) {
    auto a = gev::spawn(pinger);
    auto b = gev::spawn(pinger);
    a->join();
    b->join();
  }
  report_ns_per(state, "ns_per_yield", static_cast<double>(state.iterations()) * 2 * kYieldsEach);
}
BENCHMARK(BM_yield)->UseRealTime();

void BM_spawn_join(benchmark::State& state) {
  gev::spawn([] {})->join();  // warm: hub, stack pool
  for (auto _ : state) {
    auto g = gev::spawn([] {});
    g->join();
  }
  report_ns_per(state, "ns_per_op", static_cast<double>(state.iterations()));
}
BENCHMARK(BM_spawn_join)->UseRealTime();

// Total wall time for 100k greenlets that each sleep 10 ms: spawn, run, park, wake, finish,
// joinall. One untimed warm-up round first (peers do the same).
void BM_sleep_100k(benchmark::State& state) {
  constexpr int kGreenlets = 100'000;
  std::uint64_t woke = 0;
  auto round = [&] {
    gev::GreenletList gs;
    gs.reserve(kGreenlets);
    for (int i = 0; i < kGreenlets; ++i) {
      gs.push_back(gev::spawn([&woke] {
        gev::sleep(10ms);
        ++woke;
      }));
    }
    gev::joinall(gs);
  };
  round();
  woke = 0;
  for (auto _ : state) round();
  if (woke != static_cast<std::uint64_t>(state.iterations()) * kGreenlets) {
    die("BM_sleep_100k: not every greenlet woke up");
  }
  state.counters["s_total"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  report_ns_per(state, "ns_per_greenlet", static_cast<double>(state.iterations()) * kGreenlets);
}
BENCHMARK(BM_sleep_100k)->UseRealTime()->Iterations(3)->Unit(benchmark::kMillisecond);

void BM_timeout_arm_cancel(benchmark::State& state) {
  gev::get_hub();
  for (auto _ : state) {
    gev::Timeout t{1s};
    benchmark::DoNotOptimize(&t);
  }
  report_ns_per(state, "ns_per_op", static_cast<double>(state.iterations()));
}
BENCHMARK(BM_timeout_arm_cancel)->UseRealTime();

// From Event::set() until all 100k waiters have woken, per waiter. Waiters are spawned and
// parked outside the timed region. The end is a counter and one Event (Go's WaitGroup, which
// its peer waits on), not joinall: joinall would add a link per waiter to the timed work.
void BM_wake_100k(benchmark::State& state) {
  constexpr int kWaiters = 100'000;
  std::uint64_t woke = 0;
  auto round = [&]() -> double {
    gev::Event gate;
    gev::Event all_woke;
    int remaining = kWaiters;
    gev::GreenletList waiters;
    waiters.reserve(kWaiters);
    for (int i = 0; i < kWaiters; ++i) {
      waiters.push_back(gev::spawn([&woke, &gate, &all_woke, &remaining] {
        gate.wait();
        ++woke;
        if (--remaining == 0) all_woke.set();
      }));
    }
    gev::sleep(0s);  // FIFO: every waiter runs and parks before main resumes
    for (const auto& w : waiters) {
      if (!*w) die("BM_wake_100k: a waiter did not start before the timed region");
    }
    const auto t0 = std::chrono::steady_clock::now();
    gate.set();
    all_woke.wait();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    gev::joinall(waiters);  // outside the timed region: let them exit before the next round
    return seconds;
  };
  round();
  woke = 0;
  for (auto _ : state) state.SetIterationTime(round());
  if (woke != static_cast<std::uint64_t>(state.iterations()) * kWaiters) {
    die("BM_wake_100k: not every waiter woke up");
  }
  report_ns_per(state, "ns_per_waiter", static_cast<double>(state.iterations()) * kWaiters);
}
BENCHMARK(BM_wake_100k)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);

void BM_queue_pingpong(benchmark::State& state) {
  constexpr int kRoundTrips = 50'000;
  gev::Queue<int> q1, q2;
  for (auto _ : state) {
    auto b = gev::spawn([&] {
      for (int i = 0; i < kRoundTrips; ++i) q2.put(q1.get());
    });
    auto a = gev::spawn([&] {
      for (int i = 0; i < kRoundTrips; ++i) {
        q1.put(i);
        benchmark::DoNotOptimize(q2.get());
      }
    });
    a->join();
    b->join();
  }
  report_ns_per(state, "ns_per_round_trip", static_cast<double>(state.iterations()) * kRoundTrips);
}
BENCHMARK(BM_queue_pingpong)->UseRealTime();

void BM_pool_100k(benchmark::State& state) {
  constexpr int kTasks = 100'000;
  double total = 0;
  for (auto _ : state) {
    gev::Pool pool{1000};
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kTasks; ++i) pool.spawn([] {});
    pool.join();
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  state.counters["s_total"] = total / static_cast<double>(state.iterations());
}
BENCHMARK(BM_pool_100k)->UseRealTime()->Iterations(3)->Unit(benchmark::kMillisecond);

void BM_raw_switch(benchmark::State& state) {
  namespace ctx = boost::context;
  bool stop = false;
  ctx::fiber f{[&stop](ctx::fiber&& back) {
    while (!stop) back = std::move(back).resume();
    return std::move(back);
  }};
  for (auto _ : state) f = std::move(f).resume();  // there and back: two switches
  stop = true;
  f = std::move(f).resume();
  report_ns_per(state, "ns_per_switch", static_cast<double>(state.iterations()) * 2);
}
BENCHMARK(BM_raw_switch)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
