// Hub-level waits: wait_fd on a pipe (readiness, timeout, interruption), wait_signal (delivery
// and timeout), SignalWatch (callbacks, referenced vs unreferenced, one hub per signal), and
// I/O batching and poll spin (wake-ups, timers, idle and LoopExit intact; their environment
// variables).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <gev/gev.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

using gev::test::Pipe;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("wait_fd returns EV_READ once another greenlet writes to the pipe") {
  Pipe p;
  int events = -1;
  bool wrote_before_ready = false;
  auto reader = gev::spawn([&] { events = gev::wait_fd(p.r, EV_READ); });
  auto writer = gev::spawn([&] {
    gev::sleep(5ms);
    wrote_before_ready = events == -1;
    REQUIRE(write(p.w, "hello", 5) == 5);
  });
  reader->join();
  writer->join();
  CHECK_MESSAGE(wrote_before_ready, "wait_fd returned before the pipe had data");
  CHECK(events == EV_READ);
  char buf[8] = {};
  CHECK(read(p.r, buf, sizeof buf) == 5);
  CHECK(std::string(buf, 5) == "hello");
}

TEST_CASE("wait_fd in the main greenlet, woken by a write from another thread") {
  Pipe p;
  std::thread t([&] {
    std::this_thread::sleep_for(10ms);
    REQUIRE(write(p.w, "x", 1) == 1);
  });
  const int events = gev::wait_fd(p.r, EV_READ, 10s);
  t.join();
  CHECK(events == EV_READ);
}

TEST_CASE("wait_fd times out with 0 when nothing arrives") {
  Pipe p;
  const auto t0 = Clock::now();
  const int events = gev::wait_fd(p.r, EV_READ, 20ms);
  const double took = seconds_since(t0);
  CHECK(events == 0);
  CHECK_MESSAGE(took >= 0.015, "timed out after only " << took << " s");
  CHECK(took < 5.0);
  // The timed-out wait left nothing behind: a later wait on the same fd works.
  REQUIRE(write(p.w, "x", 1) == 1);
  CHECK(gev::wait_fd(p.r, EV_READ, 10s) == EV_READ);
}

TEST_CASE("wait_fd for EV_WRITE on an empty pipe is ready at once") {
  Pipe p;
  CHECK(gev::wait_fd(p.w, EV_WRITE, 10s) == EV_WRITE);
}

TEST_CASE("wait_fd for EV_READ | EV_WRITE reports only what fired") {
  Pipe p;
  CHECK(gev::wait_fd(p.w, EV_READ | EV_WRITE, 10s) == EV_WRITE);
}

TEST_CASE("a Timeout interrupts wait_fd, and the fd watcher is gone afterwards") {
  Pipe p;
  bool timed_out = false;
  auto g = gev::spawn([&] {
    try {
      gev::Timeout t{10ms};
      gev::wait_fd(p.r, EV_READ);
    } catch (const gev::Timeout&) {
      timed_out = true;
    }
  });
  g->join();
  CHECK(timed_out);
  // The watcher lived on the greenlet's (now recycled) stack: readiness must not reach it.
  REQUIRE(write(p.w, "x", 1) == 1);
  for (int i = 0; i < 5; ++i) gev::sleep(1ms);
  auto other = gev::spawn([] {
    volatile char scribble[4096];  // reuse the recycled stack
    for (auto& c : scribble) c = 0x5a;
    gev::sleep(1ms);
  });
  other->join();
  CHECK(gev::wait_fd(p.r, EV_READ, 10s) == EV_READ);
}

TEST_CASE("kill interrupts a greenlet blocked in wait_fd") {
  Pipe p;
  bool unwound = false;
  auto g = gev::spawn([&] {
    struct Guard {
      bool* flag;
      ~Guard() { *flag = true; }
    } guard{&unwound};
    gev::wait_fd(p.r, EV_READ);
  });
  gev::sleep(0s);
  REQUIRE_FALSE(g->ready());
  CHECK(g->kill());
  CHECK(unwound);
  CHECK(g->successful());
}

TEST_CASE("wait_signal wakes when a greenlet raises the signal") {
  bool got = false;
  bool raised_first = false;
  auto waiter = gev::spawn([&] { got = gev::wait_signal(SIGUSR1, 10s); });
  auto raiser = gev::spawn([&] {
    gev::sleep(5ms);  // the waiter is parked in wait_signal by now
    raised_first = !got;
    raise(SIGUSR1);
  });
  waiter->join();
  raiser->join();
  CHECK(raised_first);
  CHECK(got);
}

TEST_CASE("wait_signal returns false on timeout") {
  const auto t0 = Clock::now();
  CHECK_FALSE(gev::wait_signal(SIGUSR1, 20ms));
  const double took = seconds_since(t0);
  CHECK(took >= 0.015);
  CHECK(took < 5.0);
}

TEST_CASE("wait_signal keeps the loop alive: main joins a waiter woken by a signal from a thread") {
  const pthread_t main_thread = pthread_self();
  auto waiter = gev::spawn([] { return gev::wait_signal(SIGUSR2); });
  gev::sleep(0s);  // waiter parked in wait_signal
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    pthread_kill(main_thread, SIGUSR2);
  });
  bool result = false;
  CHECK_NOTHROW(result = waiter->get());  // no LoopExit: the signal watcher is referenced
  t.join();
  CHECK(result);
}

TEST_CASE("SignalWatch runs its callback in the hub for each delivery") {
  int calls = 0;
  bool in_hub = false;
  gev::SignalWatch watch(gev::get_hub(), SIGUSR2, [&] {
    ++calls;
    in_hub = gev::get_hub().in_hub();
  });
  CHECK(watch.signum() == SIGUSR2);
  raise(SIGUSR2);
  for (int i = 0; i < 2000 && calls < 1; ++i) gev::sleep(1ms);
  CHECK(calls == 1);
  CHECK(in_hub);
  raise(SIGUSR2);
  for (int i = 0; i < 2000 && calls < 2; ++i) gev::sleep(1ms);
  CHECK(calls == 2);
}

TEST_CASE("an unreferenced SignalWatch does not keep gev::wait() from returning") {
  gev::SignalWatch watch(gev::get_hub(), SIGUSR2, [] {});
  const auto t0 = Clock::now();
  CHECK(gev::wait());
  CHECK(seconds_since(t0) < 5.0);
}

TEST_CASE("a referenced SignalWatch keeps the loop alive") {
  auto& hub = gev::get_hub();
  gev::SignalWatch watch(
      hub, SIGUSR2, [] {}, /*referenced=*/true);
  // main parks with nothing but the watcher registered; a thread wakes it through a post. An
  // unreferenced watcher would let this raise LoopExit at once (see loop_exit_test).
  bool woken = false;
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    hub.post([&] {
      woken = true;
      hub.unpark(hub.main_fiber());
    });
  });
  bool raised = false;
  try {
    while (!woken) hub.park("waiting for the thread");
  } catch (const gev::LoopExit& e) {
    raised = true;
    MESSAGE(e.what());
  }
  t.join();
  if (raised) gev::wait();  // still run the post, so it does not outlive this test
  CHECK_FALSE_MESSAGE(raised, "LoopExit although a referenced watcher was active");
  CHECK(woken);
}

TEST_CASE("a signal watched by one hub cannot be watched by another thread's hub") {
  std::string watch_error;
  std::string wait_error;
  {
    gev::SignalWatch watch(gev::get_hub(), SIGUSR2, [] {});
    std::thread t([&] {
      try {
        gev::SignalWatch second(gev::get_hub(), SIGUSR2, [] {});
      } catch (const std::logic_error& e) {
        watch_error = e.what();
      }
      try {
        gev::wait_signal(SIGUSR2, 1ms);
      } catch (const std::logic_error& e) {
        wait_error = e.what();
      }
    });
    t.join();
  }
  CHECK_MESSAGE(contains(watch_error, "signal " + std::to_string(SIGUSR2)),
                "second SignalWatch: '" << watch_error << "'");
  CHECK_MESSAGE(contains(wait_error, "signal " + std::to_string(SIGUSR2)),
                "wait_signal on the second hub: '" << wait_error << "'");
  // Once the first hub let go, another thread's hub may take the signal.
  bool claimed = false;
  std::thread t([&] {
    try {
      gev::SignalWatch second(gev::get_hub(), SIGUSR2, [] {});
      claimed = true;
    } catch (const std::exception& e) {
      MESSAGE(e.what());
    }
  });
  t.join();
  CHECK(claimed);
}

TEST_CASE("two SignalWatches on the same hub may share a signal") {
  int a = 0;
  int b = 0;
  gev::SignalWatch wa(gev::get_hub(), SIGUSR1, [&] { ++a; });
  gev::SignalWatch wb(gev::get_hub(), SIGUSR1, [&] { ++b; });
  raise(SIGUSR1);
  for (int i = 0; i < 2000 && (a < 1 || b < 1); ++i) gev::sleep(1ms);
  CHECK(a == 1);
  CHECK(b == 1);
}

TEST_CASE("I/O batching: set_io_batching keeps every wake-up and timer, GEV_IO_BATCH_US is read") {
  gev::Hub& hub = gev::get_hub();
  CHECK(hub.io_batching() == gev::Duration::zero());  // off by default
  const gev::Duration spin = hub.poll_spin();
  hub.set_io_batching(50us);
  CHECK(hub.io_batching() == 50us);
  {
    // Two greenlets bounce a byte over two pipes 200 times: with batching on, every readiness
    // still wakes its greenlet (only later), and timers still fire.
    Pipe ab, ba;
    int bounces = 0;
    auto echo = gev::spawn([&] {
      for (int i = 0; i < 200; ++i) {
        REQUIRE(gev::wait_fd(ab.r, EV_READ, 5s) == EV_READ);
        char c;
        REQUIRE(read(ab.r, &c, 1) == 1);
        REQUIRE(write(ba.w, &c, 1) == 1);
      }
    });
    for (int i = 0; i < 200; ++i) {
      char c = static_cast<char>(i);
      REQUIRE(write(ab.w, &c, 1) == 1);
      REQUIRE(gev::wait_fd(ba.r, EV_READ, 5s) == EV_READ);
      char back;
      REQUIRE(read(ba.r, &back, 1) == 1);
      CHECK(back == c);
      ++bounces;
    }
    echo->join();
    CHECK(bounces == 200);
    const auto t0 = Clock::now();
    gev::sleep(5ms);
    CHECK(seconds_since(t0) >= 0.004);
  }
  hub.set_io_batching(-1s);  // negative: off
  CHECK(hub.io_batching() == gev::Duration::zero());
  CHECK(hub.poll_spin() == spin);  // batching leaves the spin setting alone

  auto child = gev::test::run_in_child([] {
    setenv("GEV_IO_BATCH_US", "200", 1);
    std::thread t([] {
      std::printf("batch=%lld\n", static_cast<long long>(gev::get_hub().io_batching().count()));
    });
    t.join();
    setenv("GEV_IO_BATCH_US", "lots", 1);
    std::thread u([] { (void)gev::get_hub(); });
    u.join();
    return 0;
  });
  CHECK(child.exit_code() == 0);
  CHECK(contains(child.output, "batch=200000"));
  CHECK(contains(child.output, "ignoring GEV_IO_BATCH_US=lots"));
}

TEST_CASE("poll spin: wake-ups, timers, idle() and LoopExit all still work while the hub is hot") {
  gev::Hub& hub = gev::get_hub();
  const gev::Duration before = hub.poll_spin();
  CHECK(before == 50us);  // the default (GEV_POLL_SPIN_US unset in the test environment)
  for (gev::Duration spin : {gev::Duration(200us), gev::Duration::zero()}) {
    CAPTURE(spin.count());
    hub.set_poll_spin(spin);
    CHECK(hub.poll_spin() == spin);
    // Fast back-and-forth makes the hub hot, so the later waits start with a spin.
    Pipe ab, ba;
    auto echo = gev::spawn([&] {
      for (int i = 0; i < 300; ++i) {
        REQUIRE(gev::wait_fd(ab.r, EV_READ, 5s) == EV_READ);
        char c;
        REQUIRE(read(ab.r, &c, 1) == 1);
        REQUIRE(write(ba.w, &c, 1) == 1);
      }
    });
    for (int i = 0; i < 300; ++i) {
      char c = static_cast<char>(i);
      REQUIRE(write(ab.w, &c, 1) == 1);
      REQUIRE(gev::wait_fd(ba.r, EV_READ, 5s) == EV_READ);
      REQUIRE(read(ba.r, &c, 1) == 1);
    }
    echo->join();
    // A timer longer than the spin still fires, and not early.
    auto t0 = Clock::now();
    gev::sleep(3ms);
    CHECK(seconds_since(t0) >= 0.0025);
    // A wait on a descriptor that stays quiet times out.
    CHECK(gev::wait_fd(ab.r, EV_READ, 2ms) == 0);
    // idle() returns once nothing else is ready.
    gev::idle();
    // Nothing left to wake main: LoopExit, not a spin forever.
    gev::Event never;
    CHECK_THROWS_AS(never.wait(), gev::LoopExit);
  }
  hub.set_poll_spin(-5us);
  CHECK(hub.poll_spin() == gev::Duration::zero());
  hub.set_poll_spin(before);

  auto child = gev::test::run_in_child([] {
    setenv("GEV_POLL_SPIN_US", "0", 1);
    std::thread t([] {
      std::printf("spin=%lld\n", static_cast<long long>(gev::get_hub().poll_spin().count()));
    });
    t.join();
    setenv("GEV_POLL_SPIN_US", "-3", 1);
    std::thread u([] { (void)gev::get_hub(); });
    u.join();
    return 0;
  });
  CHECK(child.exit_code() == 0);
  CHECK(contains(child.output, "spin=0\n"));
  CHECK(contains(child.output, "ignoring GEV_POLL_SPIN_US=-3"));
}
