// Monkey-patching benchmarks (Google Benchmark; bench/run.sh puts them in the side-by-side table):
//   BM_monkey_pingpong   two greenlets bounce one byte over a blocking socketpair with plain
//                        ::write/::read, patched by gev::monkey: what unmodified C code pays
//   BM_net_pingpong      the same with gev::net::Socket (gev's own API, no hooks involved)
//   BM_hook_overhead     a ready 1-byte write + read on a socketpair through the hooks, minus
//                        the same through gev::monkey::original (the cost of interposing)
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include <gev/gev.hpp>
#include <gev/monkey/monkey.hpp>
#include <gev/net/socket.hpp>

namespace {

void report_ns_per(benchmark::State& state, const char* name, double ops) {
  state.counters[name] =
      benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

constexpr int kRoundTrips = 20'000;

void BM_monkey_pingpong(benchmark::State& state) {
  gev::monkey::patch_all();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  for (auto _ : state) {
    auto echo = gev::spawn([&] {
      char c;
      for (int i = 0; i < kRoundTrips; ++i) {
        if (::read(fds[1], &c, 1) != 1 || ::write(fds[1], &c, 1) != 1) return;
      }
    });
    auto ping = gev::spawn([&] {
      char c = 'x';
      for (int i = 0; i < kRoundTrips; ++i) {
        if (::write(fds[0], &c, 1) != 1 || ::read(fds[0], &c, 1) != 1) return;
      }
    });
    ping->join();
    echo->join();
  }
  ::close(fds[0]);
  ::close(fds[1]);
  report_ns_per(state, "ns_per_round_trip", static_cast<double>(state.iterations()) * kRoundTrips);
}
BENCHMARK(BM_monkey_pingpong)->UseRealTime();

void BM_net_pingpong(benchmark::State& state) {
  auto [a, b] = gev::net::socketpair();
  for (auto _ : state) {
    auto echo = gev::spawn([&, &b = b] {
      char c;
      for (int i = 0; i < kRoundTrips; ++i) {
        if (b.recv(&c, 1) != 1) return;
        b.sendall(static_cast<const void*>(&c), 1);
      }
    });
    auto ping = gev::spawn([&, &a = a] {
      char c = 'x';
      for (int i = 0; i < kRoundTrips; ++i) {
        a.sendall(static_cast<const void*>(&c), 1);
        if (a.recv(&c, 1) != 1) return;
      }
    });
    ping->join();
    echo->join();
  }
  report_ns_per(state, "ns_per_round_trip", static_cast<double>(state.iterations()) * kRoundTrips);
}
BENCHMARK(BM_net_pingpong)->UseRealTime();

void BM_hook_overhead(benchmark::State& state) {
  gev::monkey::patch_all();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  constexpr int kCalls = 100'000;
  double hooked = 0, original = 0;
  for (auto _ : state) {
    char c = 'x';
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) {
      ::write(fds[0], &c, 1);
      ::read(fds[1], &c, 1);
    }
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) {
      gev::monkey::original::write(fds[0], &c, 1);
      gev::monkey::original::read(fds[1], &c, 1);
    }
    auto t2 = std::chrono::steady_clock::now();
    hooked += std::chrono::duration<double, std::nano>(t1 - t0).count();
    original += std::chrono::duration<double, std::nano>(t2 - t1).count();
  }
  const double calls = static_cast<double>(state.iterations()) * kCalls * 2;
  state.counters["ns_hooked"] = hooked / calls;
  state.counters["ns_original"] = original / calls;
  state.counters["ns_overhead"] = (hooked - original) / calls;
  ::close(fds[0]);
  ::close(fds[1]);
}
BENCHMARK(BM_hook_overhead)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
