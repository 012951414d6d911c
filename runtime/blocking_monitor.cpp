#include "gev/runtime/blocking_monitor.hpp"

#include <pthread.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace gev {
namespace {

using Clock = std::chrono::steady_clock;

struct Monitor {
  std::mutex mutex;
  std::condition_variable wake;
  std::thread* thread = nullptr;  // leaked in a forked child (the thread is not there)
  pid_t pid = 0;                  // the process the thread runs in
  bool stop = false;
  Duration threshold{std::chrono::milliseconds(100)};
};

// Never destroyed: the monitor may be stopped from an atexit handler after statics are gone.
Monitor& monitor() {
  static Monitor* m = new Monitor;
  return *m;
}

struct Track {
  std::uint64_t switches = 0;
  Clock::time_point since{};
  bool reported = false;
  bool seen = false;
};

void monitor_main() {
  pthread_setname_np(pthread_self(), "gev-monitor");
  Monitor& m = monitor();
  std::unordered_map<const Hub*, Track> tracks;
  std::vector<std::string> reports;
  std::unique_lock lock(m.mutex);
  while (!m.stop) {
    const Duration threshold = m.threshold;
    const auto period = std::max<Duration>(threshold / 4, std::chrono::milliseconds(1));
    m.wake.wait_for(lock, period, [&m] { return m.stop; });
    if (m.stop) break;
    lock.unlock();

    const auto now = Clock::now();
    for (auto& [hub, t] : tracks) t.seen = false;
    Hub::for_each_hub([&](Hub& hub) {
      const std::uint64_t switches = hub.switch_count();
      auto [it, fresh] = tracks.try_emplace(&hub);
      Track& t = it->second;
      t.seen = true;
      if (fresh || switches != t.switches) {
        t.switches = switches;
        t.since = now;
        t.reported = false;
        return;
      }
      if (t.reported || now - t.since < threshold) return;
      char name[64];
      if (!hub.running_fiber_name(name, sizeof name)) return;  // idle in its loop
      t.reported = true;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - t.since).count();
      char line[192];
      std::snprintf(line, sizeof line,
                    "gev: greenlet '%s' has run for %lld ms without yielding (blocking its hub)\n",
                    name, static_cast<long long>(ms));
      reports.emplace_back(line);
    });
    std::erase_if(tracks, [](const auto& kv) { return !kv.second.seen; });
    for (const auto& r : reports) {
      std::fputs(r.c_str(), stderr);
      std::fflush(stderr);
    }
    reports.clear();
    lock.lock();
  }
}

void stop_at_exit() {
  stop_blocking_monitor();
}

// GEV_MONITOR=1: start when the library loads.
[[maybe_unused]] const bool g_env_started = [] {
  const char* v = std::getenv("GEV_MONITOR");
  if (!v || !*v || std::strcmp(v, "0") == 0) return false;
  long ms = 100;
  if (const char* t = std::getenv("GEV_MONITOR_THRESHOLD_MS")) {
    char* end = nullptr;
    const long parsed = std::strtol(t, &end, 10);
    if (end != t && parsed > 0) ms = parsed;
  }
  start_blocking_monitor(std::chrono::milliseconds(ms));
  return true;
}();

}  // namespace

void start_blocking_monitor(Duration threshold) {
  if (threshold <= Duration::zero()) threshold = std::chrono::milliseconds(1);
  Monitor& m = monitor();
  std::lock_guard lock(m.mutex);
  m.threshold = threshold;
  if (m.thread && m.pid == getpid()) {
    m.wake.notify_all();
    return;
  }
  // Not running (or running in the parent of this forked child: that thread is not here).
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit(&stop_at_exit); });
  Hub::set_publish_running(true);
  m.stop = false;
  m.pid = getpid();
  m.thread = new std::thread(&monitor_main);
}

void stop_blocking_monitor() {
  Monitor& m = monitor();
  std::thread* thread;
  {
    std::lock_guard lock(m.mutex);
    if (!m.thread || m.pid != getpid()) return;
    thread = m.thread;
    m.thread = nullptr;
    m.stop = true;
    m.wake.notify_all();
  }
  if (thread->get_id() != std::this_thread::get_id()) {
    thread->join();
  } else {
    thread->detach();
  }
  delete thread;
  Hub::set_publish_running(false);
}

bool blocking_monitor_running() {
  Monitor& m = monitor();
  std::lock_guard lock(m.mutex);
  return m.thread != nullptr && m.pid == getpid();
}

}  // namespace gev
