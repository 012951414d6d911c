// LoopExit: a wait in the main greenlet that nothing can ever end raises gev::LoopExit naming
// what is parked; gev::wait() returns instead; a KeepAlive keeps the loop alive for work that
// other threads will post; blocking inside a hub callback is a BlockingSwitchOutError reported
// through the error hook.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <gev/gev.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A greenlet parked on a raw hub park that nothing will ever unpark.
std::shared_ptr<gev::Greenlet<void>> spawn_stuck(std::string name, const char* reason) {
  return gev::spawn(gev::SpawnOptions{.name = std::move(name)},
                    [reason] { gev::get_hub().park(reason); });
}

// Captures every report made through the error hook while alive.
struct HookCapture {
  std::vector<std::string> contexts;
  std::vector<std::exception_ptr> errors;
  gev::ErrorHook previous;
  HookCapture() {
    previous = gev::set_error_hook([this](const gev::ErrorReport& r) {
      contexts.emplace_back(r.context);
      errors.push_back(r.error);
    });
  }
  ~HookCapture() { gev::set_error_hook(std::move(previous)); }
  HookCapture(const HookCapture&) = delete;
  HookCapture& operator=(const HookCapture&) = delete;
};

template <class E>
bool holds(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

TEST_CASE("joining a greenlet parked forever raises LoopExit naming it and what main waits in") {
  auto stuck = spawn_stuck("stuck-forever", "a test park nobody unparks");
  std::string what;
  bool returned = false;
  try {
    stuck->join();
    returned = true;
  } catch (const gev::LoopExit& e) {
    what = e.what();
  }
  REQUIRE_MESSAGE(!returned, "join() returned although nothing could wake the greenlet");
  CHECK_MESSAGE(contains(what, "stuck-forever"),
                "LoopExit does not name the parked greenlet: " << what);
  CHECK_MESSAGE(contains(what, "a test park nobody unparks"),
                "LoopExit does not say what the greenlet is parked in: " << what);
  CHECK_MESSAGE(contains(what, "waits in join"),
                "LoopExit does not say main waits in join: " << what);
  CHECK_FALSE(stuck->ready());
  // The hub is still usable, and the stuck greenlet can be killed.
  CHECK(stuck->kill());
  CHECK(stuck->ready());
  CHECK(stuck->successful());
  auto later = gev::spawn([] { return 7; });
  CHECK(later->get() == 7);
}

TEST_CASE("LoopExit lists every parked greenlet") {
  auto a = spawn_stuck("stuck-a", "park-a");
  auto b = spawn_stuck("stuck-b", "park-b");
  std::string what;
  try {
    a->join();
  } catch (const gev::LoopExit& e) {
    what = e.what();
  }
  CHECK(contains(what, "stuck-a"));
  CHECK(contains(what, "park-a"));
  CHECK(contains(what, "stuck-b"));
  CHECK(contains(what, "park-b"));
  gev::killall({a, b});
  CHECK(a->ready());
  CHECK(b->ready());
}

TEST_CASE("a raw park in main that nothing can end raises LoopExit") {
  std::string what;
  try {
    gev::get_hub().park("main-raw-wait");
  } catch (const gev::LoopExit& e) {
    what = e.what();
  }
  CHECK_MESSAGE(contains(what, "main-raw-wait"), "LoopExit: " << what);
  CHECK(gev::get_hub().main_fiber().state() == gev::detail::Fiber::State::running);
}

TEST_CASE("LoopExit mentions unreferenced watchers that cannot keep the loop alive") {
  gev::SignalWatch watch(gev::get_hub(), SIGUSR2, [] {});
  auto stuck = spawn_stuck("stuck-with-watcher", "park");
  std::string what;
  try {
    stuck->join();
  } catch (const gev::LoopExit& e) {
    what = e.what();
  }
  CHECK_MESSAGE(contains(what, "Unreferenced watchers"), "LoopExit: " << what);
  stuck->kill();
}

TEST_CASE("gev::wait() returns instead of raising LoopExit") {
  auto stuck = spawn_stuck("stuck-during-wait", "park");
  bool result = false;
  CHECK_NOTHROW(result = gev::wait());
  CHECK(result);
  CHECK_FALSE(stuck->ready());
  stuck->kill();
  CHECK(stuck->ready());
}

TEST_CASE("gev::wait() runs sleeping greenlets to completion") {
  int done = 0;
  for (auto d : {15ms, 5ms, 10ms}) {
    gev::spawn([&done, d] {
      gev::sleep(d);
      ++done;
    });
  }
  CHECK(gev::wait());
  CHECK(done == 3);
  CHECK(gev::get_hub().live_greenlets() == 0);
}

TEST_CASE("gev::wait(timeout) returns false when work outlasts the timeout") {
  auto g = gev::spawn([] { gev::sleep(300ms); });
  CHECK_FALSE(gev::wait(20ms));
  CHECK_FALSE(g->ready());
  CHECK(gev::wait());
  CHECK(g->ready());
}

TEST_CASE("gev::wait(timeout) returns true as soon as the loop is idle") {
  int done = 0;
  gev::spawn([&] {
    gev::sleep(10ms);
    ++done;
  });
  const auto t0 = Clock::now();
  const bool idle = gev::wait(3s);
  const double took = seconds_since(t0);
  CHECK_MESSAGE(idle, "gev::wait(3s) reported a timeout although everything finished after 10 ms");
  CHECK(done == 1);
  CHECK_MESSAGE(took < 2.0,
                "gev::wait(3s) took " << took << " s: its own timer kept the loop 'busy'");
}

TEST_CASE("join with a timeout on a stuck greenlet times out instead of raising LoopExit") {
  auto stuck = spawn_stuck("stuck-timed-join", "park");
  bool joined = true;
  CHECK_NOTHROW(joined = stuck->join(20ms));
  CHECK_FALSE(joined);
  stuck->kill();
}

TEST_CASE("without a KeepAlive, work a thread will post later does not prevent LoopExit") {
  auto& hub = gev::get_hub();
  auto stuck = spawn_stuck("stuck-no-keepalive", "park");
  std::promise<void> loop_exit_seen;
  std::atomic<bool> posted_ran{false};
  std::thread t([&, seen = loop_exit_seen.get_future()]() mutable {
    seen.wait();
    hub.post([&] { posted_ran = true; });
  });
  bool raised = false;
  try {
    stuck->join();
  } catch (const gev::LoopExit&) {
    raised = true;
  }
  loop_exit_seen.set_value();
  t.join();
  CHECK(raised);
  CHECK_FALSE(posted_ran);
  gev::wait();  // a pending post is work: wait() runs it before returning
  CHECK(posted_ran);
  stuck->kill();
}

TEST_CASE("a KeepAlive lets main wait for a greenlet that another thread wakes through post()") {
  auto& hub = gev::get_hub();
  auto waiter = spawn_stuck("waits-for-thread", "until the thread posts");
  bool joined = false;
  bool raised = false;
  {
    gev::Hub::KeepAlive keep(hub);
    std::thread t([&] {
      std::this_thread::sleep_for(30ms);
      hub.post([&] { hub.unpark(*waiter); });
    });
    try {
      joined = waiter->join();
    } catch (const gev::LoopExit& e) {
      raised = true;
      MESSAGE(e.what());
    }
    t.join();
  }
  CHECK_FALSE_MESSAGE(raised, "LoopExit raised although a KeepAlive was held");
  CHECK(joined);
  CHECK(waiter->ready());
}

TEST_CASE("LoopExit is raised once the last KeepAlive is released") {
  auto& hub = gev::get_hub();
  auto stuck = spawn_stuck("never-woken", "park");
  std::optional<gev::Hub::KeepAlive> keep;
  keep.emplace(hub);
  bool released = false;
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    hub.post([&] {
      keep.reset();
      released = true;
    });
  });
  std::string what;
  try {
    stuck->join();
  } catch (const gev::LoopExit& e) {
    what = e.what();
  }
  t.join();
  CHECK_MESSAGE(released, "LoopExit was raised while the KeepAlive was still held");
  CHECK(contains(what, "never-woken"));
  stuck->kill();
}

TEST_CASE("blocking inside a post()/call_soon callback is a BlockingSwitchOutError") {
  auto& hub = gev::get_hub();
  HookCapture hook;
  hub.post([] { gev::sleep(1ms); });
  hub.call_soon([] { gev::sleep(0s); });
  hub.call_soon([] { gev::get_hub().park("park in a callback"); });
  auto g = gev::spawn([] { gev::sleep(20ms); });  // still running when the callback joins it
  hub.call_soon([g] { g->join(); });
  CHECK(gev::wait());
  REQUIRE(hook.errors.size() == 4);
  for (std::size_t i = 0; i < hook.errors.size(); ++i) {
    CAPTURE(i);
    CAPTURE(gev::describe_exception(hook.errors[i]));
    CHECK(holds<gev::BlockingSwitchOutError>(hook.errors[i]));
    CHECK_MESSAGE(contains(hook.contexts[i], "callback"), "context: " << hook.contexts[i]);
  }
  std::string all;
  for (auto& e : hook.errors) all += gev::describe_exception(e) + "\n";
  CHECK_MESSAGE(contains(all, "park in a callback"), all);
  // The hub survived: greenlets still run.
  auto after = gev::spawn([] { return 1; });
  CHECK(after->get() == 1);
}

TEST_CASE("blocking inside a rawlink callback is a BlockingSwitchOutError") {
  HookCapture hook;
  auto g = gev::spawn([] {});
  g->rawlink([](gev::GreenletBase&) { gev::sleep(1ms); });
  g->join();
  gev::wait();
  REQUIRE(hook.errors.size() == 1);
  CHECK(holds<gev::BlockingSwitchOutError>(hook.errors[0]));
}

TEST_CASE("a KeepAlive keeps gev::wait() from returning until it is released") {
  auto& hub = gev::get_hub();
  std::optional<gev::Hub::KeepAlive> keep;
  keep.emplace(hub);
  bool released = false;
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    hub.post([&] {
      keep.reset();
      released = true;
    });
  });
  CHECK(gev::wait());
  t.join();
  CHECK_MESSAGE(released, "gev::wait() returned while a KeepAlive was held");
}

TEST_CASE("a pending call_soon callback keeps main from LoopExit") {
  auto& hub = gev::get_hub();
  bool woken = false;
  hub.call_soon([&] {
    woken = true;
    hub.unpark(hub.main_fiber());
  });
  bool raised = false;
  try {
    while (!woken) hub.park("waiting for call_soon");
  } catch (const gev::LoopExit&) {
    raised = true;
  }
  CHECK_FALSE(raised);
  CHECK(woken);
}

TEST_CASE("a greenlet in gev::wait() is woken when the loop empties, so joining it works") {
  bool waited = false;
  auto g = gev::spawn([&] { waited = gev::wait(); });
  bool raised = false;
  try {
    g->join();
  } catch (const gev::LoopExit&) {
    raised = true;
  }
  CHECK_FALSE(raised);
  CHECK(waited);
}

TEST_CASE("exceptions escaping hub callbacks are reported and later callbacks still run") {
  auto& hub = gev::get_hub();
  HookCapture hook;
  int ran = 0;
  hub.call_soon([] { throw std::runtime_error("call_soon boom"); });
  hub.call_soon([&] { ++ran; });
  hub.post([] { throw std::runtime_error("post boom"); });
  hub.post([&] { ++ran; });
  hub.spawn_raw([] { throw std::runtime_error("raw fiber boom"); });
  hub.spawn_raw([&] { ++ran; });
  CHECK(gev::wait());
  CHECK(ran == 3);
  REQUIRE(hook.errors.size() == 3);
  std::string all;
  for (std::size_t i = 0; i < hook.errors.size(); ++i) {
    all += hook.contexts[i] + ": " + gev::describe_exception(hook.errors[i]) + "\n";
  }
  CHECK_MESSAGE(contains(all, "call_soon boom"), all);
  CHECK_MESSAGE(contains(all, "post boom"), all);
  CHECK_MESSAGE(contains(all, "raw fiber boom"), all);
  CHECK_MESSAGE(contains(all, "raw fiber"), all);
}

TEST_CASE("blocking inside a SignalWatch callback is reported as a BlockingSwitchOutError") {
  HookCapture hook;
  bool called = false;
  gev::SignalWatch watch(gev::get_hub(), SIGUSR2, [&] {
    called = true;
    gev::sleep(1ms);
  });
  raise(SIGUSR2);
  for (int i = 0; i < 2000 && !called; ++i) gev::sleep(1ms);
  REQUIRE(called);
  REQUIRE(hook.errors.size() == 1);
  CHECK(holds<gev::BlockingSwitchOutError>(hook.errors[0]));
  CHECK_MESSAGE(contains(hook.contexts[0], "signal"), hook.contexts[0]);
}
