// link / link_value / link_exception / rawlink: conditions, order, where they run.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;
using gev::test::wait_until;

namespace {

struct Recorder {
  std::vector<std::string> order;
  std::vector<bool> in_hub;
  std::vector<const gev::GreenletBase*> got;

  gev::GreenletBase::LinkFn make(std::string tag) {
    return [this, tag](gev::GreenletBase& g) {
      order.push_back(tag);
      in_hub.push_back(gev::get_hub().in_hub());
      got.push_back(&g);
    };
  }
};

template <class G>
void register_all(G& g, Recorder& r) {
  g.link(r.make("link-1"));
  g.rawlink(r.make("raw"));
  g.link_value(r.make("value"));
  g.link_exception(r.make("exception"));
  g.link(r.make("link-2"));
}

}  // namespace

TEST_CASE("on success: rawlink runs first, in the hub; link and link_value follow in order") {
  Recorder r;
  auto g = gev::spawn([] {
    gev::sleep(1ms);
    return 5;
  });
  register_all(*g, r);
  CHECK(g->join());
  REQUIRE(wait_until([&] { return r.order.size() >= 4; }));
  gev::sleep(5ms);
  CHECK(r.order == std::vector<std::string>{"raw", "link-1", "value", "link-2"});
  CHECK(r.in_hub == std::vector<bool>{true, false, false, false});
  for (auto* p : r.got) CHECK(p == g.get());
  expect_quiet_hub();
}

TEST_CASE("on failure: rawlink, link and link_exception in order; link_value does not run") {
  gev::test::CaptureErrors errors;
  Recorder r;
  auto g = gev::spawn([]() -> int {
    gev::sleep(1ms);
    throw std::runtime_error("failed");
  });
  register_all(*g, r);
  g->join();
  REQUIRE(wait_until([&] { return r.order.size() >= 4; }));
  gev::sleep(5ms);
  CHECK(r.order == std::vector<std::string>{"raw", "link-1", "exception", "link-2"});
  CHECK(errors.count() == 1);
  expect_quiet_hub();
}

TEST_CASE("on kill while running: GreenletExit counts as success for link_value") {
  Recorder r;
  auto g = gev::spawn([] { gev::sleep(1h); });
  register_all(*g, r);
  gev::sleep(1ms);
  CHECK(g->kill());
  REQUIRE(wait_until([&] { return r.order.size() >= 4; }));
  gev::sleep(5ms);
  CHECK(r.order == std::vector<std::string>{"raw", "link-1", "value", "link-2"});
  expect_quiet_hub();
}

TEST_CASE("links do not run before the greenlet finished") {
  Recorder r;
  auto g = gev::spawn([] { gev::sleep(30ms); });
  register_all(*g, r);
  gev::sleep(5ms);
  CHECK(r.order.empty());
  g->join();
  REQUIRE(wait_until([&] { return r.order.size() >= 4; }));
  expect_quiet_hub();
}

TEST_CASE("links added after the finish still run, with the same conditions") {
  gev::test::CaptureErrors errors;
  auto ok = gev::spawn([] { return 1; });
  auto bad = gev::spawn([]() -> int { throw std::runtime_error("x"); });
  gev::joinall({ok, bad});
  Recorder r_ok, r_bad;
  register_all(*ok, r_ok);
  register_all(*bad, r_bad);
  REQUIRE(wait_until([&] { return r_ok.order.size() >= 4 && r_bad.order.size() >= 4; }));
  gev::sleep(5ms);
  CHECK(r_ok.order.size() == 4);
  CHECK(r_bad.order.size() == 4);
  auto count = [](const Recorder& r, const char* tag) {
    return std::count(r.order.begin(), r.order.end(), std::string(tag));
  };
  CHECK(count(r_ok, "value") == 1);
  CHECK(count(r_ok, "exception") == 0);
  CHECK(count(r_bad, "value") == 0);
  CHECK(count(r_bad, "exception") == 1);
  for (const Recorder* r : {&r_ok, &r_bad}) {
    CHECK(count(*r, "raw") == 1);
    CHECK(count(*r, "link-1") == 1);
    CHECK(count(*r, "link-2") == 1);
    // rawlink still runs in the hub; the others in greenlets
    for (std::size_t i = 0; i < r->order.size(); ++i) {
      CHECK(r->in_hub[i] == (r->order[i] == "raw"));
    }
  }
  expect_quiet_hub();
}

TEST_CASE("link callbacks run in a new greenlet: they may block without holding up others") {
  auto g = gev::spawn([] { return 1; });
  bool slow_done = false, fast_done = false;
  bool slow_done_when_fast_ran = true;
  const gev::detail::Fiber* main_fiber = &gev::get_hub().main_fiber();
  const gev::detail::Fiber* slow_fiber = nullptr;
  const gev::detail::Fiber* fast_fiber = nullptr;
  g->link([&](gev::GreenletBase&) {
    slow_fiber = &gev::get_hub().current_fiber();
    gev::sleep(30ms);  // a blocking call: allowed in a link
    slow_done = true;
  });
  g->link([&](gev::GreenletBase&) {
    fast_fiber = &gev::get_hub().current_fiber();
    slow_done_when_fast_ran = slow_done;
    fast_done = true;
  });
  g->join();
  REQUIRE(wait_until([&] { return slow_done && fast_done; }));
  CHECK_FALSE(slow_done_when_fast_ran);
  CHECK(slow_fiber != nullptr);
  CHECK(fast_fiber != nullptr);
  CHECK(slow_fiber != fast_fiber);
  CHECK(slow_fiber != main_fiber);
  CHECK(static_cast<const void*>(slow_fiber) != static_cast<const void*>(g.get()));
  expect_quiet_hub();
}

TEST_CASE("a blocking call in a rawlink is an error reported through the hook") {
  gev::test::CaptureErrors errors;
  bool after_sleep = false;
  auto g = gev::spawn([] {});
  g->rawlink([&](gev::GreenletBase&) {
    gev::sleep(1ms);
    after_sleep = true;
  });
  g->join();
  REQUIRE(wait_until([&] { return errors.count() >= 1; }));
  CHECK_FALSE(after_sleep);
  CHECK(errors.count() == 1);
  CHECK(gev::test::holds<gev::BlockingSwitchOutError>(errors.reports()[0].error));
  CHECK(errors.reports()[0].context.find(g->name()) != std::string::npos);
  expect_quiet_hub();
}

TEST_CASE("an exception escaping a link callback is reported, and other links still run") {
  gev::test::CaptureErrors errors;
  bool second = false;
  auto g = gev::spawn([] {});
  g->link([](gev::GreenletBase&) { throw std::runtime_error("link blew up"); });
  g->link([&](gev::GreenletBase&) { second = true; });
  g->join();
  REQUIRE(wait_until([&] { return second && errors.count() >= 1; }));
  gev::sleep(5ms);
  CHECK(errors.count() == 1);
  CHECK(errors.reports()[0].description.find("link blew up") != std::string::npos);
  CHECK(g->successful());  // a failing link does not change the greenlet's outcome
  expect_quiet_hub();
}

TEST_CASE("links keep the greenlet alive after its handle is dropped") {
  std::string seen_name, seen_value;
  std::string expected_name;
  {
    auto g = gev::spawn([] {
      gev::sleep(2ms);
      return std::string("payload");
    });
    expected_name = g->name();
    g->link([&](gev::GreenletBase& x) {
      gev::sleep(1ms);
      seen_name = x.name();
      seen_value = static_cast<gev::Greenlet<std::string>&>(x).get();
    });
  }
  REQUIRE(wait_until([&] { return !seen_value.empty(); }));
  CHECK(seen_name == expected_name);
  CHECK(seen_value == "payload");
  expect_quiet_hub();
}

TEST_CASE("link_value sees the value and link_exception sees the exception") {
  gev::test::CaptureErrors errors;
  int value = 0;
  std::string what;
  auto ok = gev::spawn([] { return 99; });
  auto bad = gev::spawn([]() -> int { throw std::invalid_argument("nope"); });
  ok->link_value(
      [&](gev::GreenletBase& x) { value = *static_cast<gev::Greenlet<int>&>(x).value(); });
  bad->link_exception([&](gev::GreenletBase& x) { what = gev::test::what_of(x.exception()); });
  gev::joinall({ok, bad});
  REQUIRE(wait_until([&] { return value != 0 && !what.empty(); }));
  CHECK(value == 99);
  CHECK(what == "nope");
  expect_quiet_hub();
}

TEST_CASE("many links on one greenlet all run once") {
  auto g = gev::spawn([] { gev::sleep(1ms); });
  int runs = 0;
  for (int i = 0; i < 200; ++i) g->link([&](gev::GreenletBase&) { ++runs; });
  g->join();
  REQUIRE(wait_until([&] { return runs >= 200; }));
  gev::sleep(5ms);
  CHECK(runs == 200);
  expect_quiet_hub();
}
