// Steady-state put/get between greenlets allocates nothing once the queue's buffer has grown:
// Queue (ring buffer), bounded Queue with parked putters, LifoQueue, PriorityQueue, and
// Channel ping-pong. Global operator new/delete are replaced in this executable to count
// allocations (as tests/hub/allocation_test.cpp does); counting happens between two snapshots
// with no doctest macro in between (doctest itself allocates).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

#include <gev/gev.hpp>
#include <gev/runtime/channel.hpp>
#include <gev/runtime/queue.hpp>

using namespace std::chrono_literals;

#include "alloc_counter.hpp"

namespace {

// Runs a producer greenlet against a consumer in main: `rounds` warm-up rounds, then counts
// allocations over `rounds` more. Returns the count.
template <class Q>
long count_ping_pong(Q& q, int rounds, int burst) {
  long before = 0, after = 0;
  auto producer = gev::spawn([&] {
    for (int phase = 0; phase < 2; ++phase) {
      for (int r = 0; r < rounds; ++r) {
        for (int i = 0; i < burst; ++i) q.put(i);
      }
    }
  });
  for (int phase = 0; phase < 2; ++phase) {
    if (phase == 1) before = allocations();
    for (int r = 0; r < rounds; ++r) {
      for (int i = 0; i < burst; ++i) (void)q.get();
    }
    if (phase == 1) after = allocations();
  }
  producer->join();
  return after - before;
}

}  // namespace

TEST_CASE("Queue: steady-state put/get between two greenlets does not allocate") {
  gev::sleep(0s);  // warm the hub
  {
    // The counter works: a queue's first put allocates its buffer.
    gev::Queue<int> fresh;
    const long a0 = allocations();
    fresh.put(1);
    const long a1 = allocations();
    CHECK(a1 > a0);
  }
  gev::Queue<int> unbounded;
  CHECK(count_ping_pong(unbounded, 200, 37) == 0);
  gev::Queue<int> bounded{4};  // the producer parks in put; the consumer parks in get
  CHECK(count_ping_pong(bounded, 200, 9) == 0);
  gev::LifoQueue<int> lifo{3};
  CHECK(count_ping_pong(lifo, 200, 5) == 0);
  gev::PriorityQueue<int> prio{3};
  CHECK(count_ping_pong(prio, 200, 5) == 0);
  gev::JoinableQueue<int> joinable{2};
  CHECK(count_ping_pong(joinable, 200, 5) == 0);
}

TEST_CASE("Queue: timed gets and puts do not allocate") {
  gev::Queue<int> q{1};
  long before = 0, after = 0;
  auto producer = gev::spawn([&] {
    for (int i = 0; i < 2000; ++i) q.put(i, 10s);
  });
  for (int i = 0; i < 2000; ++i) {
    if (i == 1000) before = allocations();
    (void)q.get(10s);
  }
  after = allocations();
  producer->join();
  CHECK(after - before == 0);
}

TEST_CASE("Channel: ping-pong does not allocate") {
  gev::Channel<int> ch;
  CHECK(count_ping_pong(ch, 200, 3) == 0);
}
