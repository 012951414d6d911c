// Threads: one hub per OS thread, cross-thread post() (thread-safe, runs on the hub's thread,
// exactly once, in order per poster), InvalidThreadUseError for hub objects used from the wrong
// thread, and HubThread serving submit() from other threads.
#include <doctest/doctest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <future>
#include <gev/gev.hpp>
#include <iomanip>
#include <latch>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The same spelling gev uses for thread ids in its messages.
std::string thread_label(pthread_t t) {
  std::ostringstream out;
  out << "0x" << std::hex << static_cast<unsigned long>(t);
  return out.str();
}

// Runs fn on a fresh std::thread and returns the message of the InvalidThreadUseError it throws
// ("" if it threw nothing, "other: ..." for any other exception).
template <class F>
std::string error_from_other_thread(F fn, std::string* other_label = nullptr) {
  std::string message;
  std::thread t([&] {
    if (other_label) *other_label = thread_label(pthread_self());
    try {
      fn();
    } catch (const gev::InvalidThreadUseError& e) {
      message = e.what();
    } catch (const std::exception& e) {
      message = std::string("other: ") + e.what();
    } catch (...) {
      message = "other: non-std exception";
    }
  });
  t.join();
  return message;
}

}  // namespace

TEST_CASE(
    "4 threads x 1000 posts: each runs exactly once, on the hub thread, in order per thread") {
  constexpr int kThreads = 4;
  constexpr int kPosts = 1000;
  auto& hub = gev::get_hub();
  const auto hub_thread = std::this_thread::get_id();
  std::vector<int> runs(kThreads * kPosts, 0);  // touched only on the hub thread
  std::vector<int> last_seq(kThreads, -1);
  int total = 0;
  int off_thread = 0;
  int out_of_order = 0;
  {
    gev::Hub::KeepAlive keep(hub);  // the posts are the only work: keep the loop alive for them
    std::vector<std::thread> posters;
    for (int t = 0; t < kThreads; ++t) {
      posters.emplace_back([&, t] {
        for (int i = 0; i < kPosts; ++i) {
          hub.post([&, t, i] {
            off_thread += std::this_thread::get_id() != hub_thread;
            ++runs[t * kPosts + i];
            out_of_order += i <= last_seq[t];
            last_seq[t] = i;
            if (++total == kThreads * kPosts) hub.unpark(hub.main_fiber());
          });
        }
      });
    }
    gev::Timeout guard{20s};  // a bound in case posts get lost
    while (total < kThreads * kPosts) hub.park("waiting for posts");
    for (auto& p : posters) p.join();
  }
  CHECK(total == kThreads * kPosts);
  CHECK_MESSAGE(off_thread == 0, off_thread << " posts ran on a thread other than the hub's");
  CHECK_MESSAGE(out_of_order == 0, out_of_order << " posts ran out of order within their thread");
  int not_once = 0;
  for (int r : runs) not_once += r != 1;
  CHECK_MESSAGE(not_once == 0, not_once << " posts did not run exactly once");
}

TEST_CASE("posts from other threads wake a hub blocked in a sleep and run promptly") {
  auto& hub = gev::get_hub();
  std::atomic<int> ran{0};
  std::thread t([&] {
    for (int i = 0; i < 10; ++i) hub.post([&] { ++ran; });
  });
  // main sleeps in the hub (blocking poll); the posts' ev_async wakes it.
  for (int i = 0; i < 2000 && ran < 10; ++i) gev::sleep(1ms);
  t.join();
  CHECK(ran == 10);
}

TEST_CASE("each thread has its own hub, and greenlets run on both concurrently") {
  auto* main_hub = &gev::get_hub();
  gev::Hub* hubs[2] = {nullptr, nullptr};
  bool existed_before[2] = {true, true};
  int counts[2] = {0, 0};
  std::latch both_have_hubs(2);  // both hubs alive at once, so their addresses must differ
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      existed_before[t] = gev::Hub::current_if_exists() != nullptr;
      hubs[t] = &gev::get_hub();
      both_have_hubs.arrive_and_wait();
      gev::GreenletList gs;
      for (int i = 0; i < 100; ++i) {
        gs.push_back(gev::spawn([&counts, t] {
          gev::sleep(1ms);
          ++counts[t];
        }));
      }
      gev::joinall(gs);
    });
  }
  for (auto& th : threads) th.join();
  CHECK_FALSE(existed_before[0]);
  CHECK_FALSE(existed_before[1]);
  CHECK(hubs[0] != nullptr);
  CHECK(hubs[0] != hubs[1]);
  CHECK(hubs[0] != main_hub);
  CHECK(hubs[1] != main_hub);
  CHECK(counts[0] == 100);
  CHECK(counts[1] == 100);
}

TEST_CASE("joining or killing a greenlet from another thread raises InvalidThreadUseError") {
  auto& hub = gev::get_hub();
  auto g = gev::spawn([] { gev::get_hub().park("parked for the thread test"); });
  gev::sleep(0s);  // let it start and park
  const std::string hub_label = thread_label(pthread_self());

  std::string other_label;
  std::string msg = error_from_other_thread([&] { g->join(); }, &other_label);
  CHECK_MESSAGE(contains(msg, "Greenlet::join"), "message: " << msg);
  CHECK_MESSAGE(contains(msg, "belongs to the hub of thread " + hub_label), "message: " << msg);
  CHECK_MESSAGE(contains(msg, "used from thread " + other_label), "message: " << msg);

  msg = error_from_other_thread([&] { g->kill(); });
  CHECK_MESSAGE(contains(msg, "Greenlet::kill"), "message: " << msg);
  CHECK_MESSAGE(contains(msg, hub_label), "message: " << msg);

  msg = error_from_other_thread([&] { g->join(10ms); });
  CHECK_MESSAGE(contains(msg, "Greenlet::join"), "message: " << msg);

  // The wrong-thread attempts changed nothing: the greenlet is still parked, and killable here.
  CHECK_FALSE(g->ready());
  CHECK(g->kill());
  CHECK(g->ready());
  (void)hub;
}

TEST_CASE("starting a greenlet from another thread raises InvalidThreadUseError") {
  auto g = std::make_shared<gev::Greenlet<int>>();  // created on this thread: belongs to its hub
  std::string msg = error_from_other_thread([&] { g->start(); });
  CHECK_MESSAGE(contains(msg, "Greenlet::start"), "message: " << msg);
  CHECK_FALSE(g->started());
}

TEST_CASE("same-thread-only Hub calls raise InvalidThreadUseError from another thread") {
  auto& hub = gev::get_hub();
  bool ran = false;
  CHECK(contains(error_from_other_thread([&] { hub.call_soon([&] { ran = true; }); }),
                 "Hub::call_soon"));
  CHECK(contains(error_from_other_thread([&] { hub.run_once(); }), "Hub::run_once"));
  CHECK(contains(error_from_other_thread([&] { hub.run_for(1ms); }), "Hub::run_for"));
  CHECK(contains(error_from_other_thread([&] { hub.spawn_raw([&] { ran = true; }); }),
                 "Hub::spawn_raw"));
  CHECK(
      contains(error_from_other_thread([&] { gev::Hub::KeepAlive keep(hub); }), "Hub::KeepAlive"));
  gev::wait();
  CHECK_FALSE_MESSAGE(ran, "a rejected call_soon/spawn_raw still ran");
}

TEST_CASE("post() is the thread-safe way in: it runs on the hub thread") {
  auto& hub = gev::get_hub();
  const auto hub_thread = std::this_thread::get_id();
  std::optional<bool> on_hub_thread;
  gev::Hub::KeepAlive keep(hub);
  std::thread t([&] {
    hub.post([&] {
      on_hub_thread = std::this_thread::get_id() == hub_thread;
      hub.unpark(hub.main_fiber());
    });
  });
  gev::Timeout guard{10s};
  while (!on_hub_thread) hub.park("waiting for the post");
  t.join();
  CHECK(*on_hub_thread);
}

TEST_CASE("HubThread serves submit() from 4 threads: values, exceptions, cooperative sleeps") {
  constexpr int kThreads = 4;
  constexpr int kJobs = 50;
  gev::HubThread io("hub-under-test");
  std::atomic<int> wrong_thread{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::vector<int> good(kThreads, 0);
  std::vector<int> errors(kThreads, 0);
  std::vector<int> bad(kThreads, 0);
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      std::vector<std::future<int>> futures;
      for (int i = 0; i < kJobs; ++i) {
        futures.push_back(io.submit([&, t, i]() -> int {
          wrong_thread += !io.hub().in_own_thread();
          const int now = ++in_flight;
          int seen = max_in_flight.load();
          while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
          }
          gev::sleep(5ms);
          --in_flight;
          if (i % 10 == 3)
            throw std::runtime_error("job " + std::to_string(t * 1000 + i) + " failed");
          return t * 1000 + i;
        }));
      }
      for (int i = 0; i < kJobs; ++i) {
        if (futures[i].wait_for(30s) != std::future_status::ready) {
          ++bad[t];
          continue;
        }
        try {
          int v = futures[i].get();
          if (v == t * 1000 + i && i % 10 != 3) {
            ++good[t];
          } else {
            ++bad[t];
          }
        } catch (const std::runtime_error& e) {
          if (i % 10 == 3 &&
              std::string(e.what()) == "job " + std::to_string(t * 1000 + i) + " failed") {
            ++errors[t];
          } else {
            ++bad[t];
          }
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  CHECK_FALSE(io.hub().in_own_thread());
  CHECK(wrong_thread == 0);
  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    CHECK(good[t] == kJobs - kJobs / 10);
    CHECK(errors[t] == kJobs / 10);
    CHECK(bad[t] == 0);
  }
  CHECK_MESSAGE(max_in_flight > 1, "submitted jobs never overlapped: gev::sleep blocked the hub");
}

TEST_CASE("HubThread runs submitted greenlets concurrently: one can wait for another") {
  gev::HubThread io;
  auto flag = std::make_shared<bool>(false);  // touched only on the hub thread
  auto waiter = io.submit([flag] {
    for (int i = 0; i < 5000 && !*flag; ++i) gev::sleep(1ms);
    return *flag;
  });
  auto setter = io.submit([flag] {
    gev::sleep(5ms);
    *flag = true;
  });
  REQUIRE(setter.wait_for(30s) == std::future_status::ready);
  REQUIRE(waiter.wait_for(30s) == std::future_status::ready);
  CHECK(waiter.get());
}

TEST_CASE("HubThread::post runs on the hub thread; posts after stop() are dropped") {
  gev::HubThread io;
  std::promise<bool> on_hub;
  auto on_hub_future = on_hub.get_future();
  io.post([&] { on_hub.set_value(io.hub().in_own_thread()); });
  REQUIRE(on_hub_future.wait_for(30s) == std::future_status::ready);
  CHECK(on_hub_future.get());
  io.stop();
  io.stop();  // idempotent
  bool ran = false;
  io.post([&] { ran = true; });
  auto late = io.submit([] { return 1; });
  REQUIRE(late.wait_for(10s) == std::future_status::ready);
  CHECK_THROWS_AS(late.get(), std::future_error);
  CHECK_FALSE(ran);
}

TEST_CASE("HubThread destructor kills greenlets still parked there and their RAII runs") {
  struct Guard {
    std::atomic<int>* destroyed;
    ~Guard() { ++*destroyed; }
  };
  std::atomic<int> destroyed{0};
  std::atomic<int> started{0};
  std::vector<std::future<void>> parked;
  std::future<int> sleeping;
  {
    gev::HubThread io;
    for (int i = 0; i < 3; ++i) {
      parked.push_back(io.submit([&] {
        Guard g{&destroyed};
        ++started;
        gev::get_hub().park("parked until the HubThread stops");
      }));
    }
    sleeping = io.submit([&] {
      Guard g{&destroyed};
      ++started;
      gev::sleep(1h);
      return 0;
    });
    for (int i = 0; i < 5000 && started < 4; ++i) std::this_thread::sleep_for(1ms);
    REQUIRE(started == 4);
    CHECK(destroyed == 0);
  }
  CHECK_MESSAGE(destroyed == 4,
                "RAII destructors of greenlets parked in the HubThread did not run");
  for (auto& f : parked) {
    REQUIRE(f.wait_for(0s) == std::future_status::ready);
    CHECK_THROWS_AS(f.get(), gev::GreenletExit);
  }
  REQUIRE(sleeping.wait_for(0s) == std::future_status::ready);
  CHECK_THROWS_AS(sleeping.get(), gev::GreenletExit);
}

TEST_CASE("HubThread::submit accepts move-only functions and returns void futures") {
  gev::HubThread io;
  auto owned = std::make_unique<int>(41);
  auto value = io.submit([p = std::move(owned)] { return *p + 1; });
  bool ran = false;
  auto nothing = io.submit([&ran] { ran = true; });
  REQUIRE(value.wait_for(30s) == std::future_status::ready);
  REQUIRE(nothing.wait_for(30s) == std::future_status::ready);
  CHECK(value.get() == 42);
  CHECK_NOTHROW(nothing.get());
  CHECK(ran);
}

TEST_CASE("HubThread::stop from its own thread is a logic_error, not a deadlock") {
  gev::HubThread io;
  auto attempt = io.submit([&io] { io.stop(); });
  REQUIRE(attempt.wait_for(30s) == std::future_status::ready);
  CHECK_THROWS_AS(attempt.get(), std::logic_error);
  CHECK(io.submit([] { return 3; }).get() == 3);  // still serving
}
