// gev::Channel: rendezvous semantics, timeouts, nowait, FIFO order, kill safety, close and
// iteration, move-only items.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gev/gev.hpp>
#include <gev/runtime/channel.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::wait_until;

namespace {
void settle(int turns = 5) {
  for (int i = 0; i < turns; ++i) gev::sleep(0s);
}
}  // namespace

TEST_CASE("Channel: put does not return until a getter took the item") {
  gev::Channel<int> ch;
  CHECK(ch.maxsize() == 0);
  CHECK(ch.qsize() == 0);
  CHECK(ch.empty());
  CHECK(ch.full());  // no getter waiting: a put would park
  bool put_returned = false;
  auto putter = gev::spawn([&] {
    ch.put(1);
    put_returned = true;
  });
  settle();
  CHECK_FALSE(put_returned);
  CHECK(ch.balance() == 1);
  CHECK_FALSE(ch.empty());
  gev::sleep(5ms);
  CHECK_FALSE(put_returned);
  CHECK(ch.get() == 1);
  CHECK(ch.balance() == 0);
  putter->join();
  CHECK(put_returned);
  expect_quiet_hub();
}

TEST_CASE("Channel: get parks until a put; a put to a parked getter returns at once") {
  gev::Channel<std::string> ch;
  std::vector<std::string> log;
  auto getter = gev::spawn([&] { log.push_back("got " + ch.get()); });
  settle();
  CHECK(ch.balance() == -1);
  CHECK_FALSE(ch.full());
  ch.put("x");  // a getter is waiting: hand-off, no parking
  log.push_back("put returned");
  getter->join();
  CHECK(log == std::vector<std::string>{"put returned", "got x"});
  expect_quiet_hub();
}

TEST_CASE("Channel: timeouts and nowait") {
  gev::Channel<int> ch;
  CHECK_THROWS_AS(ch.put_nowait(1), gev::Full);
  CHECK_THROWS_AS(ch.put(1, false), gev::Full);
  CHECK_THROWS_AS(ch.get_nowait(), gev::Empty);
  CHECK_THROWS_AS(ch.get(false), gev::Empty);
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(ch.put(1, 10ms), gev::Full);
  CHECK(std::chrono::steady_clock::now() - t0 >= 9ms);
  CHECK(ch.waiting_putters() == 0);
  t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(ch.get(10ms), gev::Empty);
  CHECK(std::chrono::steady_clock::now() - t0 >= 9ms);
  CHECK(ch.waiting_getters() == 0);
  CHECK_THROWS_AS(ch.get_nowait(), gev::Empty);  // the timed-out put left nothing behind

  // nowait succeeds against a parked partner.
  auto getter = gev::spawn([&] { return ch.get(); });
  settle();
  ch.put_nowait(5);
  CHECK(getter->get() == 5);
  auto putter = gev::spawn([&] { ch.put(6); });
  settle();
  CHECK(ch.get_nowait() == 6);
  putter->join();

  // Timed waits satisfied in time.
  auto late_putter = gev::spawn([&] {
    gev::sleep(3ms);
    ch.put(7);
  });
  CHECK(ch.get(10s) == 7);
  late_putter->join();
  auto late_getter = gev::spawn([&] {
    gev::sleep(3ms);
    return ch.get();
  });
  ch.put(8, 10s);
  CHECK(late_getter->get() == 8);
  expect_quiet_hub();
}

TEST_CASE("Channel: getters and putters are served in FIFO order") {
  gev::Channel<int> ch;
  std::vector<std::pair<int, int>> got;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> gs;
  for (int i = 0; i < 4; ++i) gs.push_back(gev::spawn([&, i] { got.emplace_back(i, ch.get()); }));
  settle();
  for (int i = 0; i < 4; ++i) ch.put(10 + i);
  for (auto& g : gs) g->join();
  REQUIRE(got.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(got[i] == std::make_pair(i, 10 + i));

  gs.clear();
  std::vector<int> order;
  for (int i = 0; i < 4; ++i) gs.push_back(gev::spawn([&, i] { ch.put(i); }));
  settle();
  CHECK(ch.balance() == 4);
  for (int i = 0; i < 4; ++i) order.push_back(ch.get());
  CHECK(order == std::vector<int>{0, 1, 2, 3});
  for (auto& g : gs) g->join();
  expect_quiet_hub();
}

TEST_CASE("Channel: no barging: the item handed to a woken getter is its own") {
  gev::Channel<int> ch;
  std::optional<int> got;
  auto g = gev::spawn([&] { got = ch.get(); });
  settle();
  ch.put(1);
  CHECK_THROWS_AS(ch.get_nowait(), gev::Empty);
  g->join();
  CHECK(got == 1);
  expect_quiet_hub();
}

TEST_CASE("Channel: kills never lose an item") {
  gev::Channel<int> ch;
  // A parked putter killed: its item was never delivered, nothing remains.
  auto p = gev::spawn([&] { ch.put(1); });
  settle();
  p->kill();
  CHECK(ch.balance() == 0);
  CHECK_THROWS_AS(ch.get_nowait(), gev::Empty);

  // A getter killed after the hand-off: the item goes to the next parked getter...
  std::optional<int> got1, got2;
  auto g1 = gev::spawn([&] { got1 = ch.get(); });
  auto g2 = gev::spawn([&] { got2 = ch.get(); });
  settle();
  ch.put(2);
  g1->kill();
  g2->join();
  CHECK_FALSE(got1);
  CHECK(got2 == 2);

  // ... or is kept for the next get.
  auto g3 = gev::spawn([&] { got1 = ch.get(); });
  settle();
  ch.put(3);
  g3->kill();
  CHECK(ch.qsize() == 1);
  CHECK_FALSE(ch.empty());
  CHECK(ch.get_nowait() == 3);
  CHECK(ch.qsize() == 0);

  // A parked getter killed before any put.
  auto g4 = gev::spawn([&] { got1 = ch.get(); });
  settle();
  g4->kill();
  CHECK(ch.waiting_getters() == 0);
  CHECK_THROWS_AS(ch.put_nowait(4), gev::Full);
  expect_quiet_hub();
}

TEST_CASE("Channel: random kills of both sides: every completed put is received exactly once") {
  gev::Channel<int> ch;
  std::multiset<int> received;
  std::set<int> put_returned;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> producers, consumers;
  for (int p = 0; p < 5; ++p) {
    producers.push_back(gev::spawn([&, p] {
      for (int i = 0; i < 40; ++i) {
        ch.put(p * 1000 + i);
        put_returned.insert(p * 1000 + i);
      }
    }));
  }
  auto consume = [&] {
    for (;;) {
      int v = ch.get();
      received.insert(v);
      if (v % 3 == 0) gev::sleep(0s);
    }
  };
  for (int c = 0; c < 4; ++c) consumers.push_back(gev::spawn(consume));
  unsigned rng = 777;
  for (int round = 0; round < 30; ++round) {
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
  CHECK(wait_until([&] { return ch.qsize() == 0 && ch.waiting_putters() == 0; }));
  settle();
  for (auto& c : consumers) c->kill();
  CHECK(ch.qsize() == 0);
  for (int item : put_returned) CHECK(received.count(item) == 1);
  for (int item : received) CHECK(received.count(item) == 1);
  expect_quiet_hub();
}

TEST_CASE("Channel: close wakes both sides and ends iteration") {
  gev::Channel<int> ch;
  auto producer = gev::spawn([&] {
    for (int i = 1; i <= 4; ++i) ch.put(i);
    ch.close();
  });
  std::vector<int> got;
  for (int v : ch) got.push_back(v);
  CHECK(got == std::vector<int>{1, 2, 3, 4});
  producer->join();
  CHECK(ch.closed());
  CHECK_THROWS_AS(ch.put(5), gev::QueueClosed);
  CHECK_THROWS_AS(ch.get(), gev::QueueClosed);

  gev::Channel<int> c2;
  int closed_seen = 0;
  auto getter = gev::spawn([&] {
    try {
      c2.get();
    } catch (const gev::QueueClosed&) {
      ++closed_seen;
    }
  });
  settle();
  c2.close();
  getter->join();
  gev::Channel<int> c3;
  auto putter = gev::spawn([&] {
    try {
      c3.put(1);
    } catch (const gev::QueueClosed&) {
      ++closed_seen;
    }
  });
  settle();
  c3.close();
  putter->join();
  CHECK(closed_seen == 2);
  CHECK_THROWS_AS(c3.get_nowait(), gev::QueueClosed);  // the refused put left nothing behind
  expect_quiet_hub();
}

TEST_CASE("Channel: move-only items") {
  gev::Channel<std::unique_ptr<std::string>> ch;
  auto producer = gev::spawn([&] {
    ch.put(std::make_unique<std::string>("a"));
    ch.put(std::make_unique<std::string>("b"));
    ch.close();
  });
  std::string all;
  for (auto& p : ch) all += *p;
  CHECK(all == "ab");
  producer->join();

  gev::Channel<std::unique_ptr<int>> k;
  auto g = gev::spawn([&] { k.get(); });
  settle();
  k.put(std::make_unique<int>(7));
  g->kill();
  CHECK(*k.get_nowait() == 7);
  expect_quiet_hub();
}

TEST_CASE("Channel: ping-pong between two greenlets") {
  gev::Channel<int> ping, pong;
  auto player = gev::spawn([&] {
    for (int i = 0; i < 1000; ++i) pong.put(ping.get() + 1);
  });
  int v = 0;
  for (int i = 0; i < 1000; ++i) {
    ping.put(v);
    v = pong.get();
  }
  CHECK(v == 1000);
  player->join();
  expect_quiet_hub();
}

TEST_CASE("Channel: using a channel from another thread is an error") {
  gev::Channel<int> ch;
  bool threw = false;
  std::thread t([&] {
    try {
      ch.put_nowait(1);
    } catch (const gev::InvalidThreadUseError&) {
      threw = true;
    }
  });
  t.join();
  CHECK(threw);
}
