// gev::Queue, LifoQueue, PriorityQueue, JoinableQueue: every operation, timeouts, FIFO wake
// order, no barging, kill safety (no lost item), close and iteration, move-only items.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gev/gev.hpp>
#include <gev/runtime/queue.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::wait_until;

namespace {
void settle(int turns = 5) {
  for (int i = 0; i < turns; ++i) gev::sleep(0s);
}
}  // namespace

TEST_CASE("Queue: put/get in FIFO order, sizes, unbounded by default") {
  gev::Queue<int> q;
  CHECK(q.maxsize() == 0);
  CHECK(q.empty());
  CHECK_FALSE(q.full());
  for (int i = 0; i < 100; ++i) q.put(i);
  CHECK(q.qsize() == 100);
  CHECK_FALSE(q.full());
  CHECK_FALSE(q.empty());
  for (int i = 0; i < 100; ++i) CHECK(q.get() == i);
  CHECK(q.empty());

  gev::Queue<int> zero{0};  // gevent >= 1.1: Queue(0) is unbounded
  for (int i = 0; i < 10; ++i) zero.put_nowait(i);
  CHECK(zero.qsize() == 10);
  expect_quiet_hub();
}

TEST_CASE("Queue: bounded, nowait variants throw Full and Empty") {
  gev::Queue<int> q{2};
  CHECK(q.maxsize() == 2);
  CHECK_THROWS_AS(q.get_nowait(), gev::Empty);
  CHECK_THROWS_AS(q.get(false), gev::Empty);
  q.put_nowait(1);
  q.put(2, false);
  CHECK(q.full());
  CHECK_THROWS_AS(q.put_nowait(3), gev::Full);
  CHECK_THROWS_AS(q.put(3, false, 1s), gev::Full);  // block=false ignores the timeout
  try {
    q.put_nowait(3);
  } catch (const gev::Full& e) {
    CHECK(std::string(e.what()).find("maxsize 2") != std::string::npos);
  }
  CHECK(q.get_nowait() == 1);
  CHECK(q.get(false) == 2);
  CHECK_THROWS_AS(q.get_nowait(), gev::Empty);
  expect_quiet_hub();
}

TEST_CASE("Queue: get and put time out with Empty and Full") {
  gev::Queue<int> q{1};
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(q.get(10ms), gev::Empty);
  CHECK(std::chrono::steady_clock::now() - t0 >= 9ms);
  CHECK_THROWS_AS(q.get(true, 5ms), gev::Empty);
  CHECK(q.waiting_getters() == 0);  // the timed-out waiter unlinked itself
  q.put(1);
  t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(q.put(2, 10ms), gev::Full);
  CHECK(std::chrono::steady_clock::now() - t0 >= 9ms);
  CHECK(q.waiting_putters() == 0);
  CHECK(q.qsize() == 1);
  CHECK(q.get() == 1);
  CHECK(q.empty());  // the timed-out put did not sneak in later
  settle();
  CHECK(q.empty());
  expect_quiet_hub();
}

TEST_CASE("Queue: a timed get/put that is satisfied in time succeeds") {
  gev::Queue<int> q{1};
  auto producer = gev::spawn([&] {
    gev::sleep(5ms);
    q.put(7);
  });
  CHECK(q.get(10s) == 7);
  q.put(1);
  auto consumer = gev::spawn([&] {
    gev::sleep(5ms);
    return q.get();
  });
  q.put(2, 10s);  // parks until the consumer made room
  CHECK(consumer->get() == 1);
  CHECK(q.get_nowait() == 2);
  producer->join();
  expect_quiet_hub();
}

TEST_CASE("Queue: get parks until a put; bounded put parks until a get") {
  gev::Queue<std::string> q{1};
  std::vector<std::string> log;
  auto consumer = gev::spawn([&] {
    log.push_back("get:" + q.get());
    log.push_back("get:" + q.get());
  });
  settle();
  CHECK(q.waiting_getters() == 1);
  q.put("a");  // handed to the parked getter
  CHECK(q.empty());
  q.put("b");
  log.push_back("put b returned");
  consumer->join();
  CHECK(log == std::vector<std::string>{"put b returned", "get:a", "get:b"});

  q.put("x");
  bool put_done = false;
  auto producer = gev::spawn([&] {
    q.put("y");
    put_done = true;
  });
  settle();
  CHECK_FALSE(put_done);
  CHECK(q.waiting_putters() == 1);
  CHECK(q.get() == "x");
  CHECK(q.qsize() == 1);  // y entered at the moment room was made
  settle();
  CHECK(put_done);
  CHECK(q.get() == "y");
  expect_quiet_hub();
}

TEST_CASE("Queue: parked getters are served in FIFO order") {
  gev::Queue<int> q;
  std::vector<std::pair<int, int>> got;  // (getter, item)
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(gev::spawn([&, i] { got.emplace_back(i, q.get()); }));
  }
  settle();
  CHECK(q.waiting_getters() == 5);
  for (int i = 0; i < 5; ++i) q.put(100 + i);
  for (auto& g : gs) g->join();
  REQUIRE(got.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(got[i].first == i);
    CHECK(got[i].second == 100 + i);
  }
  expect_quiet_hub();
}

TEST_CASE("Queue: parked putters are served in FIFO order") {
  gev::Queue<int> q{1};
  q.put(0);
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 1; i <= 5; ++i) gs.push_back(gev::spawn([&, i] { q.put(i); }));
  settle();
  CHECK(q.waiting_putters() == 5);
  std::vector<int> out;
  for (int i = 0; i <= 5; ++i) out.push_back(q.get());
  CHECK(out == std::vector<int>{0, 1, 2, 3, 4, 5});
  for (auto& g : gs) g->join();
  expect_quiet_hub();
}

TEST_CASE("Queue: no barging: an item handed to a woken getter cannot be taken by another") {
  gev::Queue<int> q;
  std::optional<int> got;
  auto getter = gev::spawn([&] { got = q.get(); });
  settle();
  q.put(1);
  // The getter is ready but has not run yet: the item is already its own.
  CHECK(q.empty());
  CHECK_THROWS_AS(q.get_nowait(), gev::Empty);
  CHECK_THROWS_AS(q.peek_nowait(), gev::Empty);
  getter->join();
  CHECK(got == 1);

  // A new putter cannot overtake a parked one either.
  gev::Queue<int> b{1};
  b.put(0);
  auto putter = gev::spawn([&] { b.put(1); });
  settle();
  CHECK(b.get() == 0);  // 1 enters at once
  CHECK_THROWS_AS(b.put_nowait(2), gev::Full);
  putter->join();
  CHECK(b.get() == 1);
  expect_quiet_hub();
}

TEST_CASE("Queue: killing a getter after the hand-off gives the item to the next getter") {
  gev::Queue<int> q;
  std::optional<int> got1, got2;
  auto g1 = gev::spawn([&] { got1 = q.get(); });
  auto g2 = gev::spawn([&] { got2 = q.get(); });
  settle();
  q.put(42);  // handed to g1
  g1->kill();
  CHECK_FALSE(got1);
  g2->join();
  CHECK(got2 == 42);
  CHECK(q.empty());
  expect_quiet_hub();
}

TEST_CASE("Queue: killing a getter after the hand-off puts the item back at the head") {
  gev::Queue<int> q;
  std::optional<int> got;
  auto g = gev::spawn([&] { got = q.get(); });
  settle();
  q.put(1);  // handed to g
  q.put(2);  // into the buffer
  g->kill();
  CHECK_FALSE(got);
  CHECK(q.qsize() == 2);
  CHECK(q.get() == 1);
  CHECK(q.get() == 2);

  // Same for a Timeout delivered to the getter after the hand-off.
  gev::test::CaptureErrors errors;  // g2 ends with the Timeout: reported, captured here
  gev::Queue<int> q2;
  auto g2 = gev::spawn([&] { got = q2.get(); });
  settle();
  q2.put(5);
  gev::get_hub().interrupt(*g2, std::make_exception_ptr(gev::Timeout(1s, gev::Timeout::deferred)),
                           false);
  g2->join();
  CHECK(g2->exception() != nullptr);
  CHECK(q2.get_nowait() == 5);

  // LIFO and priority queues get it back where it came from too.
  gev::LifoQueue<int> lq;
  auto g3 = gev::spawn([&] { got = lq.get(); });
  settle();
  lq.put(9);
  lq.put(8);
  g3->kill();
  CHECK(lq.get() == 9);  // the returned item is the newest again
  CHECK(lq.get() == 8);
  expect_quiet_hub();
}

TEST_CASE("Queue: killing a parked putter or getter leaves the queue consistent") {
  gev::Queue<int> q{1};
  q.put(1);
  auto p = gev::spawn([&] { q.put(2); });
  settle();
  CHECK(q.waiting_putters() == 1);
  p->kill();
  CHECK(q.waiting_putters() == 0);
  CHECK(q.get() == 1);
  CHECK(q.empty());  // the killed put never happened

  auto g = gev::spawn([&] { return q.get(); });
  settle();
  CHECK(q.waiting_getters() == 1);
  g->kill();
  CHECK(q.waiting_getters() == 0);
  q.put(3);
  CHECK(q.get() == 3);

  // A putter killed after its item was accepted: the item stays in the queue.
  q.put(4);
  auto p2 = gev::spawn([&] { q.put(5); });
  settle();
  CHECK(q.get() == 4);  // 5 enters now
  p2->kill();
  CHECK(q.get_nowait() == 5);
  expect_quiet_hub();
}

TEST_CASE("Queue: random kills of producers and consumers never lose or duplicate an item") {
  gev::Queue<int> q{3};
  std::multiset<int> received;
  std::set<int> put_returned;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> producers, consumers;
  constexpr int kProducers = 6, kPerProducer = 50, kConsumers = 5;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(gev::spawn([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        int item = p * 1000 + i;
        q.put(item);
        put_returned.insert(item);
        if (i % 7 == 0) gev::sleep(0s);
      }
    }));
  }
  auto consume = [&] {
    for (;;) {
      int v = q.get();
      received.insert(v);
      if (v % 5 == 0) gev::sleep(0s);
    }
  };
  for (int c = 0; c < kConsumers; ++c) consumers.push_back(gev::spawn(consume));
  unsigned rng = 12345;
  for (int round = 0; round < 40; ++round) {
    gev::sleep(0s);
    rng = rng * 1103515245u + 12345u;
    auto& victims = (rng >> 16) % 3 == 0 ? producers : consumers;
    auto& victim = victims[(rng >> 8) % victims.size()];
    if (!victim->dead()) {
      victim->kill();
      if (&victims == &consumers) consumers.push_back(gev::spawn(consume));
    }
  }
  for (auto& p : producers) p->join();
  // Drain: consumers take everything left; then stop them.
  CHECK(wait_until([&] { return q.empty() && q.waiting_putters() == 0; }));
  settle();
  for (auto& c : consumers) c->kill();
  CHECK(q.empty());
  for (int item : put_returned) CHECK(received.count(item) == 1);
  for (int item : received) CHECK(received.count(item) == 1);
  CHECK(received.size() >= put_returned.size());
  CHECK(received.size() <= put_returned.size() + kProducers);  // puts accepted, then killed
  expect_quiet_hub();
}

TEST_CASE("PriorityQueue: smallest first; Compare changes the order") {
  gev::PriorityQueue<int> q;
  for (int v : {5, 1, 4, 2, 3, 0, 9}) q.put(v);
  CHECK(q.peek() == 0);
  std::vector<int> out;
  while (!q.empty()) out.push_back(q.get());
  CHECK(out == std::vector<int>{0, 1, 2, 3, 4, 5, 9});

  gev::PriorityQueue<std::pair<int, std::string>> jobs;
  jobs.put({2, "code"});
  jobs.put({1, "eat"});
  jobs.put({3, "sleep"});
  CHECK(jobs.get().second == "eat");
  CHECK(jobs.get().second == "code");
  CHECK(jobs.get().second == "sleep");

  gev::PriorityQueue<int, std::greater<int>> maxq{3};
  maxq.put(1);
  maxq.put(3);
  maxq.put(2);
  CHECK(maxq.full());
  CHECK(maxq.get() == 3);
  CHECK(maxq.get() == 2);
  CHECK(maxq.get() == 1);
  expect_quiet_hub();
}

TEST_CASE("LifoQueue: last in, first out") {
  gev::LifoQueue<int> q{3};
  q.put(1);
  q.put(2);
  q.put(3);
  CHECK_THROWS_AS(q.put_nowait(4), gev::Full);
  CHECK(q.peek() == 3);
  CHECK(q.get() == 3);
  CHECK(q.get() == 2);
  CHECK(q.get() == 1);
  expect_quiet_hub();
}

TEST_CASE("Queue: peek returns the next item without removing it, waits, times out") {
  gev::Queue<int> q;
  CHECK_THROWS_AS(q.peek_nowait(), gev::Empty);
  CHECK_THROWS_AS(q.peek(false), gev::Empty);
  CHECK_THROWS_AS(q.peek(5ms), gev::Empty);
  q.put(1);
  q.put(2);
  CHECK(q.peek() == 1);
  CHECK(q.peek_nowait() == 1);
  CHECK(q.qsize() == 2);
  CHECK(q.get() == 1);
  CHECK(q.get() == 2);

  auto producer = gev::spawn([&] {
    gev::sleep(2ms);
    q.put(7);
  });
  CHECK(q.peek(10s) == 7);
  CHECK(q.qsize() == 1);
  CHECK(q.get() == 7);
  producer->join();

  // Several peekers are all woken by one item.
  int seen = 0;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> ps;
  for (int i = 0; i < 3; ++i) ps.push_back(gev::spawn([&] { seen += q.peek(); }));
  settle();
  q.put(10);
  for (auto& p : ps) p->join();
  CHECK(seen == 30);
  CHECK(q.get() == 10);

  // A peeker killed while parked leaves nothing behind.
  auto p = gev::spawn([&] { q.peek(); });
  settle();
  p->kill();
  q.put(1);
  CHECK(q.get() == 1);
  expect_quiet_hub();
}

TEST_CASE("JoinableQueue: join waits until every item is task_done") {
  gev::JoinableQueue<int> q;
  CHECK(q.join());  // nothing unfinished
  CHECK(q.join(0s));
  std::vector<int> done;
  auto worker = gev::spawn([&] {
    for (;;) {
      int v = q.get();
      gev::sleep(1ms);
      done.push_back(v);
      q.task_done();
    }
  });
  for (int i = 0; i < 5; ++i) q.put(i);
  CHECK(q.unfinished_tasks() == 5);
  CHECK_FALSE(q.join(0s));
  CHECK(q.join(10s));
  CHECK(done == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(q.unfinished_tasks() == 0);
  worker->kill();

  // Several joiners are all released.
  q.put(1);
  int released = 0;
  auto j1 = gev::spawn([&] { released += q.join() ? 1 : 0; });
  auto j2 = gev::spawn([&] { released += q.join() ? 1 : 0; });
  settle();
  CHECK(released == 0);
  CHECK(q.get() == 1);
  q.task_done();
  j1->join();
  j2->join();
  CHECK(released == 2);

  CHECK_THROWS_AS(q.task_done(), std::logic_error);
  CHECK(q.unfinished_tasks() == 0);

  // Items handed to a parked getter and items admitted from parked putters count too.
  gev::JoinableQueue<int> b{1};
  auto getter = gev::spawn([&] { return b.get(); });
  settle();
  b.put(1);
  b.put(2);
  auto putter = gev::spawn([&] { b.put(3); });
  settle();
  CHECK(getter->get() == 1);
  CHECK(b.get() == 2);
  putter->join();
  CHECK(b.unfinished_tasks() == 3);
  CHECK(b.get() == 3);
  b.task_done();
  b.task_done();
  b.task_done();
  CHECK(b.join(0s));
  expect_quiet_hub();
}

TEST_CASE("Queue: close ends iteration after the remaining items") {
  gev::Queue<int> q{2};
  auto producer = gev::spawn([&] {
    for (int i = 1; i <= 5; ++i) q.put(i);
    q.close();
  });
  std::vector<int> got;
  for (int& v : q) got.push_back(v);
  CHECK(got == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(q.closed());
  CHECK_THROWS_AS(q.get(), gev::QueueClosed);
  CHECK_THROWS_AS(q.get_nowait(), gev::QueueClosed);
  CHECK_THROWS_AS(q.peek(), gev::QueueClosed);
  CHECK_THROWS_AS(q.put(6), gev::QueueClosed);
  CHECK_THROWS_AS(q.put_nowait(6), gev::QueueClosed);
  q.close();  // idempotent
  producer->join();

  // Items still buffered at close are delivered first.
  gev::Queue<int> b;
  b.put(1);
  b.put(2);
  b.close();
  CHECK(b.get() == 1);
  int sum = 0;
  for (int v : b) sum += v;
  CHECK(sum == 2);
  expect_quiet_hub();
}

TEST_CASE("Queue: close wakes parked getters, peekers and putters with QueueClosed") {
  gev::Queue<int> q;
  int closed_seen = 0;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(gev::spawn([&] {
      try {
        q.get();
      } catch (const gev::QueueClosed&) {
        ++closed_seen;
      }
    }));
  }
  gs.push_back(gev::spawn([&] {
    try {
      q.peek();
    } catch (const gev::QueueClosed&) {
      ++closed_seen;
    }
  }));
  settle();
  q.close();
  for (auto& g : gs) g->join();
  CHECK(closed_seen == 4);

  gev::Queue<int> b{1};
  b.put(1);
  auto putter = gev::spawn([&] {
    try {
      b.put(2);
    } catch (const gev::QueueClosed&) {
      ++closed_seen;
    }
  });
  settle();
  b.close();
  putter->join();
  CHECK(closed_seen == 5);
  CHECK(b.get() == 1);  // the accepted item is still delivered
  CHECK_THROWS_AS(b.get(), gev::QueueClosed);

  // A range-for in a greenlet ends when another greenlet closes the queue.
  gev::Queue<std::string> s;
  std::string joined;
  auto reader = gev::spawn([&] {
    for (auto& x : s) joined += x;
    joined += ".";
  });
  s.put("a");
  s.put("b");
  settle();
  s.close();
  reader->join();
  CHECK(joined == "ab.");
  expect_quiet_hub();
}

TEST_CASE("Queue: move-only items, including through parked getters and putters") {
  gev::Queue<std::unique_ptr<int>> q{1};
  q.put(std::make_unique<int>(1));
  auto putter = gev::spawn([&] { q.put(std::make_unique<int>(2)); });
  settle();
  CHECK(*q.get() == 1);
  CHECK(*q.get() == 2);
  putter->join();
  auto getter = gev::spawn([&] { return *q.get(); });
  settle();
  q.put(std::make_unique<int>(3));
  CHECK(getter->get() == 3);
  CHECK(q.empty());
  q.put(std::make_unique<int>(4));
  CHECK(*q.peek() == 4);
  CHECK(*q.get() == 4);

  gev::Queue<std::unique_ptr<int>> it;
  for (int i = 0; i < 3; ++i) it.put(std::make_unique<int>(i));
  it.close();
  std::vector<std::unique_ptr<int>> taken;
  for (auto& p : it) taken.push_back(std::move(p));
  CHECK(taken.size() == 3);
  CHECK(*taken[2] == 2);

  auto cmp = [](const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) { return *a < *b; };
  gev::PriorityQueue<std::unique_ptr<int>, decltype(cmp)> pq;
  pq.put(std::make_unique<int>(3));
  pq.put(std::make_unique<int>(1));
  pq.put(std::make_unique<int>(2));
  CHECK(*pq.get() == 1);
  CHECK(*pq.get() == 2);
  gev::LifoQueue<std::unique_ptr<int>> lq;
  lq.put(std::make_unique<int>(1));
  lq.put(std::make_unique<int>(2));
  CHECK(*lq.get() == 2);

  // Kill after hand-off with a move-only item: it is given back, not destroyed.
  gev::Queue<std::unique_ptr<int>> k;
  auto g = gev::spawn([&] { k.get(); });
  settle();
  k.put(std::make_unique<int>(99));
  g->kill();
  CHECK(*k.get_nowait() == 99);
  expect_quiet_hub();
}

TEST_CASE("Queue: resize admits parked putters") {
  gev::Queue<int> q{1};
  q.put(1);
  auto p1 = gev::spawn([&] { q.put(2); });
  auto p2 = gev::spawn([&] { q.put(3); });
  settle();
  CHECK(q.waiting_putters() == 2);
  q.resize(2);
  CHECK(q.qsize() == 2);
  CHECK(q.waiting_putters() == 1);
  q.resize(0);  // unbounded
  CHECK(q.qsize() == 3);
  p1->join();
  p2->join();
  CHECK(q.get() == 1);
  CHECK(q.get() == 2);
  CHECK(q.get() == 3);
  expect_quiet_hub();
}

TEST_CASE("Queue: a wait nothing can satisfy raises LoopExit in main") {
  gev::Queue<int> q;
  CHECK_THROWS_AS(q.get(), gev::LoopExit);
  CHECK(q.waiting_getters() == 0);
  expect_quiet_hub();
}

TEST_CASE("Queue: using a queue from another thread is an error") {
  gev::Queue<int> q;
  bool threw = false;
  std::thread t([&] {
    try {
      q.put(1);
    } catch (const gev::InvalidThreadUseError&) {
      threw = true;
    }
  });
  t.join();
  CHECK(threw);
  CHECK(q.empty());
}

TEST_CASE("Queue: the ring buffer keeps FIFO order across wrap-around and growth") {
  gev::Queue<int> q;
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round % 13 + 1; ++i) q.put(next_in++);
    for (int i = 0; i < round % 7 + 1 && !q.empty(); ++i) CHECK(q.get() == next_out++);
  }
  while (!q.empty()) CHECK(q.get() == next_out++);
  CHECK(next_in == next_out);
}
