// format_run_info(): a dump of every live greenlet of this thread's hub, and who spawned it.
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

int main() {
  gev::Queue<int> jobs;
  gev::GreenletRef child;
  auto consumer = gev::spawn({.name = "consumer"}, [&jobs] { jobs.get(); });
  auto supervisor = gev::spawn({.name = "supervisor"}, [&child] {
    child = gev::spawn([] { gev::sleep(1h); });  // its parent is "supervisor"
    child->join();
  });
  gev::sleep(1ms);  // let them all park

  // Without spawn sites and backtraces the dump is short; with them (GEV_TRACK_SPAWN=1 or
  // gev::set_track_spawn_site(true)) it also says where each greenlet was created.
  std::fputs(gev::format_run_info({.spawn_sites = false, .current_backtrace = false}).c_str(),
             stdout);
  std::printf("child's parent: %s\n", child->parent_name().c_str());

  gev::killall({consumer, supervisor, child});
}
