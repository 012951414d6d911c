// fork(): the forking thread's hub keeps working in the child (spawn, sleep, join, fd waits,
// posts, greenlets that were already parked), and the parent is unaffected.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <gev/gev.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {

// Spawns, sleeps and joins on the calling thread's hub. Returns 0 on success, else a code
// saying which step failed.
int exercise_hub() {
  int done = 0;
  gev::GreenletList gs;
  for (int i = 0; i < 20; ++i) {
    gs.push_back(gev::spawn([&done, i] {
      gev::sleep(std::chrono::milliseconds(1 + i % 5));
      ++done;
    }));
  }
  if (gev::joinall(gs, 10s).size() != gs.size()) return 10;
  if (done != 20) return 11;
  auto v = gev::spawn([] {
    gev::sleep(0s);
    return 42;
  });
  if (v->get() != 42) return 12;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK) != 0) return 13;
  auto writer = gev::spawn([&] {
    gev::sleep(2ms);
    (void)!write(fds[1], "x", 1);
  });
  int ev = gev::wait_fd(fds[0], EV_READ, 10s);
  writer->join();
  close(fds[0]);
  close(fds[1]);
  if (ev != EV_READ) return 14;
  return 0;
}

}  // namespace

TEST_CASE("greenlets keep working in a forked child, and in the parent afterwards") {
  REQUIRE(exercise_hub() == 0);  // the hub exists and has run before the fork
  auto r = gev::test::run_in_child([] { return exercise_hub(); }, {}, std::chrono::seconds(30));
  CHECK_MESSAGE(r.exited(), "child died: status " << r.status << ", output: " << r.output);
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with " << r.exit_code() << ": " << r.output);
  CHECK(exercise_hub() == 0);
}

TEST_CASE("a greenlet parked when the process forks finishes in both processes") {
  bool finished = false;
  auto sleeper = gev::spawn([&] {
    gev::sleep(20ms);
    finished = true;
  });
  gev::sleep(0s);  // let it start and park on its timer
  REQUIRE_FALSE(sleeper->ready());
  auto r = gev::test::run_in_child(
      [&] {
        if (!sleeper->join(10s)) return 20;
        if (!finished) return 21;
        return exercise_hub();
      },
      {}, std::chrono::seconds(30));
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with " << r.exit_code() << ": " << r.output);
  CHECK(sleeper->join(10s));
  CHECK(finished);
}

TEST_CASE("forking from inside a greenlet: the child continues in that greenlet") {
  int child_code = -1;
  std::string output;
  auto g = gev::spawn([&] {
    auto r = gev::test::run_in_child(
        [] {
          if (gev::getcurrent() == nullptr) return 30;  // not in the greenlet any more?
          return exercise_hub();
        },
        {}, std::chrono::seconds(30));
    child_code = r.exit_code();
    output = r.output;
  });
  g->join();
  CHECK_MESSAGE(child_code == 0, "child failed with " << child_code << ": " << output);
  CHECK(exercise_hub() == 0);
}

TEST_CASE("posts work in a child forked while another thread was posting") {
  auto& hub = gev::get_hub();
  std::atomic<bool> stop{false};
  std::atomic<long> posted{0};
  long ran_in_parent = 0;
  std::optional<gev::Hub::KeepAlive> keep;
  keep.emplace(hub);
  std::thread spammer([&] {
    for (long i = 0; i < 300'000 && !stop; ++i) {
      hub.post([&] { ++ran_in_parent; });
      ++posted;
    }
  });
  int failures = 0;
  std::string output;
  for (int round = 0; round < 5; ++round) {
    gev::sleep(2ms);  // drain some posts
    auto r = gev::test::run_in_child(
        [&] {
          // Only this thread exists here; the hub's post mutex must not be left locked.
          bool ran = false;
          gev::get_hub().post([&] { ran = true; });
          for (int i = 0; i < 5000 && !ran; ++i) gev::sleep(1ms);
          if (!ran) return 40;
          return exercise_hub();
        },
        {}, std::chrono::seconds(20));
    if (r.exit_code() != 0) {
      ++failures;
      output += "round " + std::to_string(round) + ": status " + std::to_string(r.status) +
                " code " + std::to_string(r.exit_code()) + ": " + r.output + "\n";
    }
  }
  stop = true;
  spammer.join();
  for (int i = 0; i < 10'000 && ran_in_parent < posted; ++i) gev::sleep(1ms);
  keep.reset();
  CHECK_MESSAGE(failures == 0, output);
  CHECK(ran_in_parent == posted);
}

TEST_CASE("a HubThread is inert in a forked child; the child's own hub still works") {
  std::optional<gev::HubThread> io;
  io.emplace("forked-away");
  REQUIRE(io->submit([] { return 5; }).get() == 5);
  auto r = gev::test::run_in_child(
      [&] {
        // The thread does not exist here: using the HubThread is an error, not a hang.
        try {
          io->post([] {});
          return 100;
        } catch (const std::logic_error&) {
        }
        try {
          (void)io->submit([] { return 1; });
          return 101;
        } catch (const std::logic_error&) {
        }
        io.reset();  // must neither hang nor crash
        return exercise_hub();
      },
      {}, std::chrono::seconds(20));
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with status " << r.status << ": " << r.output);
  // The parent's HubThread still works.
  CHECK(io->submit([] { return 6; }).get() == 6);
}
