// Stacks: a stack overflow in a greenlet is reported by name ("stack overflow in greenlet NAME")
// and kills the process with SIGSEGV; the guard-page budget (GEV_GUARD_PAGES) is honoured and
// stacks beyond it fall back to a canary that catches an overrun at the next park; per-spawn
// stack sizes are honoured.
//
// Every hub use here happens in a forked child, never in the test process itself: the guard
// budget is read once per process at the first stack allocation, and gev installs its SIGSEGV
// reporter when the first hub is created -- doctest replaces and restores signal handlers
// around each test case, so the reporter must be installed inside the test case that faults.
#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <gev/gev.hpp>
#include <stdexcept>
#include <string>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Recursion deeper than any stack (the bound only hides it from -Winfinite-recursion); the
// volatile array keeps every frame big and alive, and the use after the call keeps the compiler
// from turning it into a loop.
volatile int g_recursion_limit = 1 << 30;

[[gnu::noinline]] int recurse_forever(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  frame[sizeof frame - 1] = static_cast<char>(depth);
  if (depth >= g_recursion_limit) return frame[0];
  return recurse_forever(depth + 1) + frame[depth % sizeof frame];
}

// Touches every page of a big local array so the stack really has to hold it.
[[gnu::noinline]] int use_big_frame(std::size_t bytes) {
  constexpr std::size_t kMax = 600 * 1024;
  volatile char big[kMax];
  const std::size_t n = bytes < kMax ? bytes : kMax;
  for (std::size_t i = 0; i < n; i += 512) big[i] = static_cast<char>(i);
  big[n - 1] = 1;
  int sum = 0;
  for (std::size_t i = 0; i < n; i += 4096) sum += big[i];
  return sum + big[n - 1];
}

}  // namespace

TEST_CASE("a stack overflow in a named greenlet is reported by name and dies of SIGSEGV") {
  auto r = gev::test::run_in_child(
      [] {
        auto g = gev::spawn(gev::SpawnOptions{.name = "deep-recursion"}, [] {
          if (!gev::getcurrent()->stack().guarded) std::puts("(stack is not guarded)");
          return recurse_forever(0);
        });
        g->join();
        return 0;  // not reached
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.signaled(), "child did not die of a signal: exit code "
                                  << r.exit_code() << ", output: " << r.output);
  CHECK_MESSAGE(r.signal() == SIGSEGV, "child died of signal " << r.signal() << ": " << r.output);
  CHECK_MESSAGE(contains(r.output, "stack overflow in greenlet deep-recursion"),
                "output: " << r.output);
}

TEST_CASE("a SIGSEGV that is not a stack overflow is not reported as one") {
  auto r = gev::test::run_in_child(
      [] {
        auto g = gev::spawn(gev::SpawnOptions{.name = "null-deref"}, [] {
          volatile int* volatile p = nullptr;
          *p = 1;
        });
        g->join();
        return 0;  // not reached
      },
      {}, std::chrono::seconds(60));
  // Without ASan the process dies of SIGSEGV; ASan reports the SEGV itself and exits non-zero.
  CHECK_MESSAGE((r.signaled() || r.exit_code() != 0),
                "child survived a null dereference: " << r.output);
  CHECK_FALSE_MESSAGE(contains(r.output, "stack overflow in greenlet"),
                      "a null dereference was reported as a stack overflow: " << r.output);
}

TEST_CASE("stacks beyond the guard-page budget still work") {
  auto r = gev::test::run_in_child(
      [] {
        // Before the first hub use: the budget is read at the first stack allocation.
        setenv("GEV_GUARD_PAGES", "2", 1);
        constexpr int kCount = 50;
        int finished = 0;
        int guarded = 0;
        int canary_broken = 0;
        gev::GreenletList gs;
        for (int i = 0; i < kCount; ++i) {
          gs.push_back(gev::spawn([&] {
            const auto& stack = gev::getcurrent()->stack();
            guarded += stack.guarded;
            gev::sleep(2ms);  // all 50 alive at once: 50 distinct stacks
            canary_broken += !stack.canary_intact();
            ++finished;
          }));
        }
        if (gev::joinall(gs, 20s).size() != kCount) return 50;
        if (finished != kCount) return 51;
        if (canary_broken != 0) return 52;
        // The hub's own stack may hold one of the two guard pages.
        if (guarded > 2) return 53;
        if (gev::detail::guard_pages_left() != 0) return 54;
        return 0;
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with status " << r.status << ": " << r.output);
}

TEST_CASE("an overrun of an unguarded stack is caught by the canary at the next park") {
  auto r = gev::test::run_in_child(
      [] {
        setenv("GEV_GUARD_PAGES", "0", 1);  // no guard pages at all: canaries everywhere
        auto g = gev::spawn(gev::SpawnOptions{.name = "canary-victim"}, [] {
          const auto& stack = gev::getcurrent()->stack();
          if (stack.guarded) {
            std::puts("stack unexpectedly guarded");
            std::_Exit(60);
          }
          if (!stack.canary_intact()) std::_Exit(61);
          // What a frame running past the bottom of the stack does: scribble over the lowest
          // bytes of the stack, where the canary lives.
          volatile unsigned char* bottom = reinterpret_cast<unsigned char*>(stack.bottom);
          for (int i = 0; i < 64; ++i) bottom[i] = 0xA5;
          gev::sleep(1ms);  // parks: the canary check must fire here
          std::puts("canary overrun went unnoticed");
          std::_Exit(62);
        });
        g->join();
        return 63;
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.signaled(), "child was not killed by a signal: exit code "
                                  << r.exit_code() << ", output: " << r.output);
  CHECK_MESSAGE(r.signal() == SIGABRT, "child died of signal " << r.signal() << ": " << r.output);
  CHECK_MESSAGE(contains(r.output, "stack overflow in greenlet canary-victim"),
                "output: " << r.output);
}

TEST_CASE("an overrun of an unguarded stack is caught when the greenlet finishes") {
  auto r = gev::test::run_in_child(
      [] {
        setenv("GEV_GUARD_PAGES", "0", 1);
        auto g = gev::spawn(gev::SpawnOptions{.name = "dies-dirty"}, [] {
          const auto& stack = gev::getcurrent()->stack();
          if (stack.guarded) std::_Exit(64);
          volatile unsigned char* bottom = reinterpret_cast<unsigned char*>(stack.bottom);
          for (int i = 0; i < 64; ++i) bottom[i] = 0x5A;
          // Returns without ever blocking again: the check must happen at death.
        });
        g->join();
        std::puts("overrun of a finished greenlet went unnoticed");
        return 65;
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.signaled(), "child was not killed by a signal: exit code "
                                  << r.exit_code() << ", output: " << r.output);
  CHECK_MESSAGE(contains(r.output, "stack overflow in greenlet dies-dirty"),
                "output: " << r.output);
}

TEST_CASE("an unguarded stack used deeply but within bounds does not trip the canary") {
  auto r = gev::test::run_in_child(
      [] {
        setenv("GEV_GUARD_PAGES", "0", 1);
        // 600 KiB of locals on a 1 MiB stack: deep, but inside the stack.
        auto g = gev::spawn(gev::SpawnOptions{.name = "deep-but-fine", .stack_size = 1 << 20}, [] {
          int v = use_big_frame(600 * 1024);
          gev::sleep(1ms);  // park: canary checked
          return v;
        });
        g->join();
        return g->successful() ? 0 : 70;
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with status " << r.status << ": " << r.output);
}

TEST_CASE("per-spawn stack_size is honoured: a 1 MiB stack holds a 600 KiB frame") {
  auto r = gev::test::run_in_child(
      [] {
        std::size_t big_size = 0;
        std::size_t default_size = 0;
        auto big = gev::spawn(gev::SpawnOptions{.name = "big-stack", .stack_size = 1 << 20}, [&] {
          big_size = gev::getcurrent()->stack().size;
          int v = use_big_frame(600 * 1024);
          gev::sleep(1ms);
          return v;
        });
        auto small = gev::spawn([&] { default_size = gev::getcurrent()->stack().size; });
        big->join();
        small->join();
        if (!big->successful()) return 80;
        if (big_size < (1u << 20)) return 81;
        if (default_size != gev::default_stack_size()) return 82;
        return 0;
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with status " << r.status << ": " << r.output);
}

TEST_CASE("a tiny per-spawn stack_size is raised to the 16 KiB minimum") {
  auto r = gev::test::run_in_child(
      [] {
        std::size_t seen = 0;
        auto g = gev::spawn(gev::SpawnOptions{.stack_size = 1}, [&] {
          seen = gev::getcurrent()->stack().size;
          volatile char buf[8 * 1024];  // more than one byte of stack still works
          for (std::size_t i = 0; i < sizeof buf; i += 256) buf[i] = 1;
          gev::sleep(1ms);
          return buf[0];
        });
        g->join();
        if (!g->successful()) return 95;
        if (seen < 16 * 1024) return 96;
        return 0;
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with status " << r.status << ": " << r.output);
}

TEST_CASE("set_default_stack_size changes the size of later stacks and rejects tiny ones") {
  auto r = gev::test::run_in_child(
      [] {
        try {
          gev::set_default_stack_size(1024);
          return 90;  // accepted a 1 KiB stack
        } catch (const std::invalid_argument&) {
        }
        gev::set_default_stack_size(512 * 1024 + 1);  // rounded up to pages
        if (gev::default_stack_size() < 512 * 1024 + 1) return 91;
        if (gev::default_stack_size() % 4096 != 0) return 92;
        std::size_t seen = 0;
        gev::spawn([&] { seen = gev::getcurrent()->stack().size; })->join();
        if (seen != gev::default_stack_size()) return 93;
        return 0;
      },
      {}, std::chrono::seconds(60));
  CHECK_MESSAGE(r.exit_code() == 0, "child failed with status " << r.status << ": " << r.output);
}
