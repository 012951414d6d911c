// gev::format_run_info, greenlet parents and spawn sites, and the blocking monitor.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include <gev/gev.hpp>
#include <gev/runtime/blocking_monitor.hpp>
#include <gev/runtime/run_info.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::size_t count_of(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (auto pos = s.find(part); pos != std::string::npos; pos = s.find(part, pos + 1)) ++n;
  return n;
}

// Runs without yielding for `d`: blocks the hub.
void busy_for(std::chrono::milliseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

}  // namespace

TEST_CASE("greenlets record their parent") {
  auto top = gev::spawn(gev::SpawnOptions{.name = "top"}, [] {
    auto child = gev::spawn(gev::SpawnOptions{.name = "child"}, [] { return 1; });
    auto anon = gev::spawn([] { return 2; });
    std::uint64_t self = gev::getcurrent()->id();
    CHECK(child->parent_id() == self);
    CHECK(child->parent_name() == "top");
    CHECK(anon->parent_name() == "top");
    // A grandchild of an unnamed greenlet: the default name comes from the id.
    auto g = gev::spawn([] { return gev::spawn([] {}); });
    auto grandchild = g->get();
    CHECK(grandchild->parent_id() == g->id());
    CHECK(grandchild->parent_name() == "Greenlet-" + std::to_string(g->id()));
    return child->get() + anon->get();
  });
  CHECK(top->parent_id() == 0);
  CHECK(top->parent_name() == "main");
  CHECK(top->get() == 3);

  // Created in the hub (a post callback): the parent is the hub.
  std::shared_ptr<gev::Greenlet<void>> from_hub;
  gev::get_hub().call_soon([&from_hub] { from_hub = gev::spawn([] {}); });
  gev::sleep(1ms);
  REQUIRE(from_hub);
  CHECK(from_hub->parent_name() == "hub");
  from_hub->join();
  expect_quiet_hub();
}

TEST_CASE("format_run_info lists names, states, parked-on reasons and parents") {
  auto sleeper = gev::spawn(gev::SpawnOptions{.name = "sleeper"}, [] { gev::sleep(1h); });
  std::shared_ptr<gev::Greenlet<void>> waiter;
  auto spawner = gev::spawn(gev::SpawnOptions{.name = "spawner"}, [&waiter, sleeper] {
    waiter = gev::spawn(gev::SpawnOptions{.name = "waiter"}, [sleeper] { sleeper->join(); });
    gev::sleep(1h);
  });
  auto pending = gev::make_greenlet([] {});
  gev::sleep(0s);
  gev::sleep(0s);
  auto ready = gev::spawn(gev::SpawnOptions{.name = "fresh"}, [] {});

  const std::string info = gev::format_run_info();
  INFO(info);
  CHECK(contains(info, "gev run info: hub of thread"));
  CHECK(contains(info, "main: running (current)"));
  CHECK(contains(info, "backtrace (the caller of format_run_info)"));
  CHECK(contains(info, "Greenlet 'sleeper' #" + std::to_string(sleeper->id()) +
                           ": parked in sleep; parent: main"));
  CHECK(contains(info, "Greenlet 'spawner' #" + std::to_string(spawner->id()) +
                           ": parked in sleep; parent: main"));
  CHECK(contains(info, "Greenlet 'waiter' #" + std::to_string(waiter->id()) +
                           ": parked in join; parent: Greenlet 'spawner' #" +
                           std::to_string(spawner->id())));
  CHECK(contains(info, "Greenlet 'fresh' #" + std::to_string(ready->id()) + ": ready"));
  CHECK_FALSE(contains(info, "Greenlet-" + std::to_string(pending->id())));  // never started
  CHECK(contains(info, "spawn sites: not tracked"));

  // From inside a greenlet: main is parked, the caller is marked current.
  auto reporter = gev::spawn(gev::SpawnOptions{.name = "reporter"},
                             [] { return gev::format_run_info({.current_backtrace = false}); });
  const std::string inner = reporter->get();
  INFO(inner);
  CHECK(contains(inner, "main: parked in join"));
  CHECK(contains(inner,
                 "Greenlet 'reporter' #" + std::to_string(reporter->id()) + ": running (current)"));
  CHECK_FALSE(contains(inner, "backtrace"));

  gev::killall({sleeper, spawner, waiter});
  ready->join();
  expect_quiet_hub();
}

TEST_CASE("spawn sites are captured only while tracking is on") {
  gev::set_track_spawn_site(true);
  auto tracked = gev::spawn(gev::SpawnOptions{.name = "tracked"}, [] { gev::sleep(1h); });
  gev::set_track_spawn_site(false);
  CHECK_FALSE(gev::track_spawn_site());
  auto untracked = gev::spawn(gev::SpawnOptions{.name = "untracked"}, [] { gev::sleep(1h); });
  REQUIRE(tracked->spawn_site() != nullptr);
  CHECK(tracked->spawn_site()->depth > 2);
  CHECK(untracked->spawn_site() == nullptr);
  gev::sleep(0s);

  const std::string info = gev::format_run_info();
  INFO(info);
  const auto at = info.find("Greenlet 'tracked'");
  REQUIRE(at != std::string::npos);
  const std::string block = info.substr(at, info.find("Greenlet 'untracked'") - at);
  CHECK(contains(block, "spawned at:"));
  CHECK(contains(block, "#0 "));
  CHECK(count_of(info, "spawned at:") == 1);
  gev::killall({tracked, untracked});
  expect_quiet_hub();
}

TEST_CASE("format_run_info with no other greenlets") {
  const std::string info = gev::format_run_info({.spawn_sites = false});
  CHECK(contains(info, "0 live greenlet(s)"));
  CHECK(contains(info, "(no other greenlets)"));
}

TEST_CASE("the blocking monitor reports a greenlet that busy-loops, once") {
  auto r = gev::test::run_child([] {
    gev::start_blocking_monitor(100ms);
    if (!gev::blocking_monitor_running()) return 2;
    auto g = gev::spawn(gev::SpawnOptions{.name = "busy-bee"}, [] { busy_for(300ms); });
    g->join();
    gev::sleep(150ms);  // idle in the loop afterwards: not a report
    gev::stop_blocking_monitor();
    std::fprintf(stderr, "child done\n");
    return gev::blocking_monitor_running() ? 1 : 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(contains(r.output, "child done"));
  CHECK(contains(r.output, "gev: greenlet 'busy-bee' has run for "));
  CHECK(contains(r.output, " ms without yielding (blocking its hub)"));
  CHECK(count_of(r.output, "without yielding") == 1);
}

TEST_CASE("the blocking monitor reports the main greenlet too, and each incident") {
  auto r = gev::test::run_child([] {
    gev::start_blocking_monitor(50ms);
    gev::sleep(1ms);  // a switch: main's name is published
    busy_for(200ms);
    gev::sleep(1ms);
    auto g = gev::spawn(gev::SpawnOptions{.name = "second"}, [] { busy_for(200ms); });
    g->join();
    gev::stop_blocking_monitor();
    return 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(count_of(r.output, "gev: greenlet 'main' has run for ") == 1);
  CHECK(count_of(r.output, "gev: greenlet 'second' has run for ") == 1);
}

TEST_CASE("the blocking monitor stays quiet when greenlets yield") {
  auto r = gev::test::run_child([] {
    gev::start_blocking_monitor(100ms);
    std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
    for (int i = 0; i < 3; ++i) {
      gs.push_back(gev::spawn([] {
        for (int k = 0; k < 40; ++k) {
          busy_for(5ms);  // short bursts, then yield
          gev::sleep(1ms);
        }
      }));
    }
    gev::joinall(gs);
    gev::sleep(300ms);  // a hub sleeping in its loop is not blocked
    gev::stop_blocking_monitor();
    std::fprintf(stderr, "child done\n");
    return 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(contains(r.output, "child done"));
  CHECK_FALSE(contains(r.output, "without yielding"));
}

TEST_CASE("the blocking monitor can be started twice, stopped twice and restarted") {
  auto r = gev::test::run_child([] {
    gev::start_blocking_monitor(100ms);
    gev::start_blocking_monitor(60ms);  // changes the threshold
    gev::stop_blocking_monitor();
    gev::stop_blocking_monitor();
    if (gev::blocking_monitor_running()) return 1;
    gev::start_blocking_monitor(60ms);
    auto g = gev::spawn(gev::SpawnOptions{.name = "late"}, [] { busy_for(200ms); });
    g->join();
    gev::stop_blocking_monitor();
    return 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(count_of(r.output, "greenlet 'late' has run for") == 1);
}
