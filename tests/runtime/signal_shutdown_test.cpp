// signal_handler and shutdown. Each case runs in a forked child (run_in_child) so a signal that
// is not handled as promised kills the child, not the test runner.
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using gev::test::run_child;
using gev::test::Witness;

namespace {

// Sends `sig` to the child once it printed "ready\n".
std::function<void(pid_t, const std::string&)> signal_when_ready(int sig) {
  auto sent = std::make_shared<bool>(false);
  return [sent, sig](pid_t pid, const std::string& out) {
    if (!*sent && out.find("ready\n") != std::string::npos) {
      *sent = true;
      kill(pid, sig);
    }
  };
}

void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

volatile sig_atomic_t g_plain_handler_calls = 0;
void plain_handler(int) {
  g_plain_handler_calls = g_plain_handler_calls + 1;
}

}  // namespace

TEST_CASE("signal_handler runs the function in a new greenlet that may block") {
  auto r = run_child([] {
    int runs = 0;
    bool done = false;
    std::string name = "<none>";
    bool was_in_hub = true;
    auto h = gev::signal_handler(SIGUSR1, [&] {
      ++runs;
      was_in_hub = gev::get_hub().in_hub();
      if (gev::GreenletBase* self = gev::getcurrent()) name = self->name();
      gev::sleep(10ms);  // blocking is allowed
      done = true;
    });
    if (!h.active() || h.signum() != SIGUSR1) return 2;
    raise(SIGUSR1);
    for (int i = 0; i < 2000 && !done; ++i) gev::sleep(5ms);
    say("runs=" + std::to_string(runs) + " done=" + std::to_string(done) + " name=" + name +
        " in_hub=" + std::to_string(was_in_hub));

    // A second delivery runs it again.
    done = false;
    raise(SIGUSR1);
    for (int i = 0; i < 2000 && !done; ++i) gev::sleep(5ms);
    say("second runs=" + std::to_string(runs));
    h.cancel();
    h.cancel();  // idempotent
    say("active=" + std::to_string(h.active()));
    return 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("runs=1 done=1 name=signal-handler(SIGUSR1) in_hub=0") != std::string::npos);
  CHECK(r.output.find("second runs=2") != std::string::npos);
  CHECK(r.output.find("active=0") != std::string::npos);
}

TEST_CASE("signal_handler: several blocking handler runs overlap") {
  auto r = run_child([] {
    int started = 0, finished = 0;
    auto h = gev::signal_handler(SIGUSR1, [&] {
      ++started;
      gev::sleep(100ms);
      ++finished;
    });
    raise(SIGUSR1);
    for (int i = 0; i < 2000 && started < 1; ++i) gev::sleep(1ms);
    raise(SIGUSR1);  // the first run is still sleeping
    for (int i = 0; i < 2000 && started < 2; ++i) gev::sleep(1ms);
    const int finished_when_second_started = finished;
    for (int i = 0; i < 2000 && finished < 2; ++i) gev::sleep(5ms);
    say("started=" + std::to_string(started) + " finished=" + std::to_string(finished) +
        " overlap=" + std::to_string(finished_when_second_started == 0));
    h.cancel();
    return 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("started=2 finished=2 overlap=1") != std::string::npos);
}

TEST_CASE("cancel() removes the handler and restores the previous disposition") {
  auto r = run_child([] {
    struct sigaction sa {};
    sa.sa_handler = plain_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, nullptr);

    int gev_runs = 0;
    auto h = gev::signal_handler(SIGUSR2, [&] { ++gev_runs; });
    raise(SIGUSR2);
    for (int i = 0; i < 2000 && gev_runs < 1; ++i) gev::sleep(1ms);
    say("while installed: gev=" + std::to_string(gev_runs) +
        " plain=" + std::to_string(g_plain_handler_calls));
    h.cancel();
    raise(SIGUSR2);  // the plain handler again, if it was restored; SIG_DFL would kill us
    gev::sleep(20ms);
    say("after cancel: gev=" + std::to_string(gev_runs) +
        " plain=" + std::to_string(g_plain_handler_calls));
    return 0;
  });
  INFO(r.output);
  INFO("child killed by signal " << r.signal());
  CHECK(r.output.find("while installed: gev=1 plain=0") != std::string::npos);
  CHECK(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("after cancel: gev=1 plain=1") != std::string::npos);
}

TEST_CASE("a cancelled handler does not run") {
  auto r = run_child([] {
    signal(SIGUSR2, SIG_IGN);
    int runs = 0;
    auto h = gev::signal_handler(SIGUSR2, [&] { ++runs; });
    h.cancel();
    // Whatever disposition is in place now, gev's function must not run.
    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    gev::sleep(20ms);
    say("runs=" + std::to_string(runs));
    return 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("runs=0") != std::string::npos);
}

TEST_CASE("SIGQUIT -> shutdown: 1000 greenlets blocked in sleep unwind, joinall returns") {
  auto r = run_child(
      [] {
        int destroyed = 0, running = 0;
        gev::signal_handler(SIGQUIT, gev::shutdown);
        std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
        for (int i = 0; i < 1000; ++i) {
          gs.push_back(gev::spawn([&] {
            Witness w{&destroyed};
            ++running;
            gev::sleep(1h);
          }));
        }
        for (int i = 0; i < 1000 && running < 1000; ++i) gev::sleep(1ms);
        if (running != 1000) return 2;
        say("ready");
        try {
          auto done = gev::joinall(gs);
          say("joined " + std::to_string(done.size()));
        } catch (const gev::GreenletExit&) {
          say("main interrupted in joinall");
          return 4;
        }
        int successful = 0;
        for (auto& g : gs) successful += g->successful() ? 1 : 0;
        say("destroyed " + std::to_string(destroyed) + " successful " + std::to_string(successful));
        return destroyed == 1000 ? 0 : 3;
      },
      signal_when_ready(SIGQUIT));
  INFO(r.output);
  CHECK(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("joined 1000") != std::string::npos);
  CHECK(r.output.find("destroyed 1000 successful 1000") != std::string::npos);
}

TEST_CASE("SIGQUIT -> shutdown: 1000 greenlets parked in join() of another unwind") {
  auto r = run_child(
      [] {
        int destroyed = 0, running = 0;
        gev::signal_handler(SIGQUIT, gev::shutdown);
        auto blocker = gev::spawn([] { gev::sleep(1h); });
        std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
        for (int i = 0; i < 1000; ++i) {
          gs.push_back(gev::spawn([&] {
            Witness w{&destroyed};
            ++running;
            blocker->join();
          }));
        }
        for (int i = 0; i < 1000 && running < 1000; ++i) gev::sleep(1ms);
        if (running != 1000) return 2;
        say("ready");
        try {
          gev::joinall(gs);
        } catch (const gev::GreenletExit&) {
          say("main interrupted in joinall");
          return 4;
        }
        say("destroyed " + std::to_string(destroyed) +
            " blocker_dead=" + std::to_string(blocker->dead()));
        return destroyed == 1000 ? 0 : 3;
      },
      signal_when_ready(SIGQUIT));
  INFO(r.output);
  CHECK(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("destroyed 1000 blocker_dead=1") != std::string::npos);
}

TEST_CASE("SIGQUIT -> shutdown: main blocked in sleep(1h) gets GreenletExit") {
  auto r = run_child(
      [] {
        int destroyed = 0;
        gev::signal_handler(SIGQUIT, gev::shutdown);
        say("ready");
        try {
          Witness w{&destroyed};
          gev::sleep(1h);
          say("sleep returned");
          return 1;
        } catch (const gev::GreenletExit&) {
          say("main got GreenletExit destroyed=" + std::to_string(destroyed));
          return 0;
        }
      },
      signal_when_ready(SIGQUIT));
  INFO(r.output);
  CHECK(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("main got GreenletExit destroyed=1") != std::string::npos);
}

TEST_CASE("SIGQUIT -> shutdown: gev::wait() in main simply returns") {
  auto r = run_child(
      [] {
        int destroyed = 0;
        gev::signal_handler(SIGQUIT, gev::shutdown);
        for (int i = 0; i < 10; ++i) {
          gev::spawn([&] {
            Witness w{&destroyed};
            gev::sleep(1h);
          });
        }
        gev::sleep(1ms);
        say("ready");
        try {
          bool idle = gev::wait();
          say("wait returned " + std::to_string(idle) + " destroyed=" + std::to_string(destroyed));
        } catch (const gev::GreenletExit&) {
          say("main interrupted in wait");
          return 4;
        }
        return 0;
      },
      signal_when_ready(SIGQUIT));
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("wait returned 1 destroyed=10") != std::string::npos);
}

TEST_CASE("shutdown called from a greenlet; greenlets outliving the grace period are named") {
  auto r = run_child([] {
    int destroyed = 0;
    auto stubborn = gev::spawn(gev::SpawnOptions{.name = "stubborn-one"}, [] {
      try {
        gev::sleep(1h);
      } catch (const gev::GreenletExit&) {
        gev::sleep(300ms);
      }
    });
    auto normal = gev::spawn([&] {
      Witness w{&destroyed};
      gev::sleep(1h);
    });
    auto closer = gev::spawn([] {
      gev::sleep(5ms);
      gev::shutdown(30ms);
    });
    try {
      gev::sleep(1h);
      say("main sleep returned");
      return 1;
    } catch (const gev::GreenletExit&) {
      say("main got GreenletExit normal_destroyed=" + std::to_string(destroyed));
    }
    return 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("main got GreenletExit normal_destroyed=1") != std::string::npos);
  CHECK(r.output.find("stubborn-one") != std::string::npos);
}

TEST_CASE("shutdown called from main kills the others and returns") {
  auto r = run_child([] {
    int destroyed = 0;
    gev::GreenletList gs;
    for (int i = 0; i < 100; ++i) {
      gs.push_back(gev::spawn([&] {
        Witness w{&destroyed};
        gev::sleep(1h);
      }));
    }
    auto never = gev::spawn([&] { say("never-started ran"); });
    gev::sleep(1ms);
    auto late = gev::spawn([&] { say("late ran"); });  // not started yet at shutdown
    gev::shutdown();
    say("shutdown returned destroyed=" + std::to_string(destroyed) +
        " live=" + std::to_string(gev::get_hub().live_greenlets()) +
        " late_dead=" + std::to_string(late->dead()));
    gev::sleep(5ms);
    return 0;
  });
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("shutdown returned destroyed=100 live=0 late_dead=1") != std::string::npos);
  CHECK(r.output.find("late ran") == std::string::npos);
}

TEST_CASE("after shutdown the hub keeps working: new spawns run, the handler stays installed") {
  auto r = run_child(
      [] {
        int shutdowns = 0;
        auto h = gev::signal_handler(SIGQUIT, [&] {
          ++shutdowns;
          gev::shutdown();
        });
        say("ready");
        try {
          gev::sleep(1h);
          return 1;
        } catch (const gev::GreenletExit&) {
        }
        auto g = gev::spawn([] {
          gev::sleep(1ms);
          return 41;
        });
        say("after: value=" + std::to_string(g->get() + 1) +
            " active=" + std::to_string(h.active()) + " shutdowns=" + std::to_string(shutdowns));
        // A second SIGQUIT runs the handler again, and ends main's wait again.
        raise(SIGQUIT);
        try {
          for (int i = 0; i < 2000 && shutdowns < 2; ++i) gev::sleep(1ms);
          gev::sleep(1h);
          return 1;
        } catch (const gev::GreenletExit&) {
        }
        say("second: shutdowns=" + std::to_string(shutdowns));
        h.cancel();
        return 0;
      },
      signal_when_ready(SIGQUIT));
  INFO(r.output);
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("after: value=42 active=1 shutdowns=1") != std::string::npos);
  CHECK(r.output.find("second: shutdowns=2") != std::string::npos);
}

TEST_CASE("a GreenletExit from shutdown that escapes main exits with status 0, stdio flushed") {
  auto r = run_child(
      [] {
        gev::signal_handler(SIGQUIT, gev::shutdown);
        say("ready");
        std::fputs("after ready, unflushed\n", stdout);
        // As if main() had no catch: the exception reaches std::terminate (here through a
        // noexcept boundary, since this body runs inside the test runner).
        []() noexcept {
          gev::sleep(1h);
          say("sleep returned");
        }();
        return 1;
      },
      signal_when_ready(SIGQUIT));
  INFO(r.output);
  CHECK(r.exited());
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("after ready, unflushed") != std::string::npos);
  CHECK(r.output.find("sleep returned") == std::string::npos);
}
