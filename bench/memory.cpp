// RSS per parked greenlet.
//
//   gev_memory [N] [--park=sleep|join]     (N defaults to 100000)
//
// Spawns N greenlets, lets every one of them run and park (in gev::sleep(24h), or with
// --park=join in join() of one never-finishing greenlet), and reads VmRSS from /proc/self/status
// before and after: the difference divided by N is the memory a parked greenlet costs (its
// greenlet object, the handle kept here, its committed stack pages, its timer). Page tables are
// not part of VmRSS, so VmPTE is reported separately. Then it kills them all, checks that every
// one unwound (RAII ran) and finished, and exits 0 only then.
//
// Output: one `key value` line per figure, for bench/run.sh.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <gev/gev.hpp>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A field of /proc/self/status in KiB ("VmRSS", "VmPTE", "VmHWM"), or -1.
long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return -1;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::uint64_t g_parked = 0;
std::uint64_t g_unwound = 0;

struct UnwindCounter {
  ~UnwindCounter() { ++g_unwound; }
};

int run(std::size_t n, bool park_in_join) {
  // Warm up the hub (its fiber, libev, the stack pool's first slab) outside the measurement.
  gev::spawn([] {})->join();

  std::shared_ptr<gev::Greenlet<void>> blocker;
  if (park_in_join) blocker = gev::spawn([] { gev::sleep(24h); });
  gev::sleep(0s);

  const long rss0 = status_kib("VmRSS");
  const long pte0 = status_kib("VmPTE");
  const auto t0 = std::chrono::steady_clock::now();
  gev::GreenletList gs;
  gs.reserve(n);
  // Spawned and parked in batches of 100k, timing each batch: a batch that costs more than the
  // first shows a cost that grows with the number already parked.
  constexpr std::size_t kBatch = 100'000;
  std::vector<double> batch_s;
  for (std::size_t i = 0; i < n;) {
    const auto tb = std::chrono::steady_clock::now();
    for (const std::size_t end = std::min(n, i + kBatch); i < end; ++i) {
      if (park_in_join) {
        gs.push_back(gev::spawn([&blocker] {
          UnwindCounter c;
          ++g_parked;
          blocker->join();
        }));
      } else {
        gs.push_back(gev::spawn([] {
          UnwindCounter c;
          ++g_parked;
          gev::sleep(24h);
        }));
      }
    }
    gev::sleep(0s);  // the ready queue is FIFO: the whole batch runs and parks before main resumes
    batch_s.push_back(seconds_since(tb));
  }
  const double spawn_s = seconds_since(t0);
  const long rss1 = status_kib("VmRSS");
  const long pte1 = status_kib("VmPTE");
  const std::size_t live = gev::get_hub().live_greenlets();

  std::printf("greenlets %zu\n", n);
  std::printf("park_in %s\n", park_in_join ? "join" : "sleep");
  std::printf("parked %llu\n", static_cast<unsigned long long>(g_parked));
  std::printf("live_greenlets %zu\n", live);
  std::printf("rss_before_kib %ld\n", rss0);
  std::printf("rss_parked_kib %ld\n", rss1);
  std::printf("rss_per_parked_kib %.3f\n", static_cast<double>(rss1 - rss0) / n);
  std::printf("pte_per_parked_kib %.3f\n", static_cast<double>(pte1 - pte0) / n);
  std::printf("spawn_park_s %.3f\n", spawn_s);
  std::printf("spawn_park_per_100k_s");
  for (double b : batch_s) std::printf(" %.3f", b);
  std::printf("\n");
  std::printf("stacks_in_use %zu\n", gev::get_hub().stacks().stacks_in_use());
  std::printf("guard_pages_left %zu\n", gev::detail::guard_pages_left());
  std::fflush(stdout);

  const auto t1 = std::chrono::steady_clock::now();
  const bool all_finished = gev::killall(gs);
  if (blocker) blocker->kill();
  const double kill_s = seconds_since(t1);

  std::size_t ok = 0;
  for (const auto& g : gs) {
    if (g->ready() && g->successful()) ++ok;
  }
  const std::size_t live_after = gev::get_hub().live_greenlets();
  std::printf("kill_unwind_s %.3f\n", kill_s);
  std::printf("unwound %llu\n", static_cast<unsigned long long>(g_unwound));
  std::printf("finished_ok %zu\n", ok);
  std::printf("live_after %zu\n", live_after);
  std::printf("rss_after_kill_kib %ld\n", status_kib("VmRSS"));
  std::printf("rss_peak_kib %ld\n", status_kib("VmHWM"));

  const bool pass = g_parked == n && live == n + (park_in_join ? 1 : 0) && all_finished &&
                    g_unwound == n && ok == n && live_after == 0;
  std::printf("result %s\n", pass ? "ok" : "FAILED");
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 100'000;
  bool park_in_join = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--park=join") == 0) {
      park_in_join = true;
    } else if (std::strcmp(argv[i], "--park=sleep") == 0) {
      park_in_join = false;
    } else {
      char* end = nullptr;
      n = std::strtoull(argv[i], &end, 10);
      if (!end || *end || n == 0) {
        std::fprintf(stderr, "usage: %s [N] [--park=sleep|join]\n", argv[0]);
        return 2;
      }
    }
  }
  try {
    return run(n, park_in_join);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gev_memory: %s\n", e.what());
  } catch (const gev::BaseException& e) {
    std::fprintf(stderr, "gev_memory: %s\n", e.what());
  }
  std::printf("result FAILED\n");
  return 1;
}
