// Uncaught exceptions in greenlets: stored, and reported exactly once through the error hook.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include <gev/gev.hpp>

#include "runtime/runtime_support.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using gev::test::expect_quiet_hub;

TEST_CASE("an uncaught exception is reported once with the greenlet's name") {
  gev::test::CaptureErrors errors;
  auto g = gev::spawn(gev::SpawnOptions{.name = "fetcher-3"}, []() -> int {
    gev::sleep(1ms);
    throw std::runtime_error("connection refused");
  });
  g->join();
  REQUIRE(errors.count() == 1);
  const auto& r = errors.reports()[0];
  CHECK(r.context.find("fetcher-3") != std::string::npos);
  CHECK(r.description.find("connection refused") != std::string::npos);
  CHECK(r.description.find("runtime_error") != std::string::npos);
  CHECK(r.error == g->exception());

  // Looking at it again does not report it again.
  CHECK_THROWS_AS(g->get(), std::runtime_error);
  CHECK_THROWS_AS(g->get(1s), std::runtime_error);
  g->join();
  gev::joinall({g});
  g->kill();
  gev::sleep(5ms);
  CHECK(errors.count() == 1);
  expect_quiet_hub();
}

TEST_CASE("the default name is in the report of an unnamed greenlet") {
  gev::test::CaptureErrors errors;
  auto g = gev::spawn([] { throw std::logic_error("oops"); });
  g->join();
  REQUIRE(errors.count() == 1);
  CHECK(errors.reports()[0].context.find(g->name()) != std::string::npos);
  CHECK(g->name().rfind("Greenlet-", 0) == 0);
  expect_quiet_hub();
}

TEST_CASE("an error is reported even when nobody joins the greenlet") {
  gev::test::CaptureErrors errors;
  {
    auto g = gev::spawn(gev::SpawnOptions{.name = "orphan"}, [] {
      gev::sleep(1ms);
      throw std::runtime_error("unobserved");
    });
  }
  REQUIRE(gev::test::wait_until([&] { return errors.count() >= 1; }));
  gev::sleep(5ms);
  CHECK(errors.count() == 1);
  CHECK(errors.reports()[0].context.find("orphan") != std::string::npos);
  expect_quiet_hub();
}

TEST_CASE("GreenletExit is not reported; nor is a successful greenlet or a caught exception") {
  gev::test::CaptureErrors errors;
  auto killed = gev::spawn([] { gev::sleep(1h); });
  auto killed_before_start = gev::spawn([] {});
  auto exits = gev::spawn([] { throw gev::GreenletExit(); });
  auto ok = gev::spawn([] { return 1; });
  auto caught = gev::spawn([] {
    try {
      throw std::runtime_error("handled");
    } catch (const std::exception&) {
    }
  });
  killed_before_start->kill();
  gev::sleep(1ms);
  killed->kill();
  gev::joinall({killed, killed_before_start, exits, ok, caught});
  gev::sleep(5ms);
  CHECK(exits->successful());
  CHECK(errors.count() == 0);
  expect_quiet_hub();
}

TEST_CASE("many failing greenlets: one report each") {
  gev::test::CaptureErrors errors;
  gev::GreenletList gs;
  for (int i = 0; i < 20; ++i) {
    // Appending (not "f" + to_string) dodges GCC 12's false -Wrestrict at -O3 (PR 105651).
    std::string name = "f", what = "e";
    name += std::to_string(i);
    what += std::to_string(i);
    gs.push_back(
        gev::spawn(gev::SpawnOptions{.name = name}, [what] { throw std::runtime_error(what); }));
  }
  gev::joinall(gs);
  CHECK(errors.count() == 20);
  for (int i = 0; i < 20 && i < static_cast<int>(errors.count()); ++i) {
    bool found = false;
    for (const auto& r : errors.reports()) {
      if (r.context.find("'f" + std::to_string(i) + "'") != std::string::npos) found = true;
    }
    CHECK(found);
  }
  expect_quiet_hub();
}

TEST_CASE("set_error_hook returns the previous hook; an empty hook restores the default") {
  int first = 0, second = 0;
  auto original = gev::set_error_hook([&](const gev::ErrorReport&) { ++first; });
  auto prev = gev::set_error_hook([&](const gev::ErrorReport&) { ++second; });
  REQUIRE(prev);
  prev(gev::ErrorReport{"x", nullptr});
  CHECK(first == 1);
  auto g = gev::spawn([] { throw std::runtime_error("to the second hook"); });
  g->join();
  CHECK(second == 1);
  CHECK(first == 1);
  gev::set_error_hook(std::move(original));
}

TEST_CASE("the default hook prints one line naming the greenlet to stderr") {
  auto r = gev::test::run_child([] {
    gev::set_error_hook({});
    auto g = gev::spawn(gev::SpawnOptions{.name = "printer"},
                        [] { throw std::runtime_error("printed once"); });
    g->join();
    try {
      g->get();
    } catch (...) {
    }
    gev::sleep(1ms);
    return 0;
  });
  CHECK(r.exit_code() == 0);
  CHECK(r.output.find("printer") != std::string::npos);
  CHECK(r.output.find("printed once") != std::string::npos);
  auto first = r.output.find("printed once");
  CHECK(r.output.find("printed once", first + 1) == std::string::npos);
}

TEST_CASE("a hook that throws does not take the hub down") {
  auto prev =
      gev::set_error_hook([](const gev::ErrorReport&) { throw std::runtime_error("hook"); });
  auto g = gev::spawn([] { throw std::runtime_error("x"); });
  CHECK(g->join());
  CHECK_FALSE(g->successful());
  auto h = gev::spawn([] { return 2; });
  CHECK(h->get() == 2);
  gev::set_error_hook(std::move(prev));
  expect_quiet_hub();
}
