// HubThread::post() racing with HubThread::stop(): posts made while the HubThread stops must be
// run or dropped, never touch the destroyed hub. Kept apart from threads_test.cpp, and run in a
// child process with a time limit, because the failure mode is a crash or a hang (heap
// corruption: heap-use-after-free under ASan, a deadlocked malloc or SIGSEGV without it).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <gev/gev.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;

TEST_CASE("posting to a HubThread while it stops neither crashes nor touches the dead hub") {
  auto r = gev::test::run_in_child(
      [] {
        constexpr int kIterations = 200;
        constexpr int kPosters = 3;
        std::atomic<long> ran{0};
        long posted = 0;
        for (int iter = 0; iter < kIterations; ++iter) {
          auto io = std::make_unique<gev::HubThread>("stop-race");
          std::atomic<bool> go{true};
          std::atomic<long> posts{0};
          std::vector<std::thread> posters;
          for (int t = 0; t < kPosters; ++t) {
            posters.emplace_back([&] {
              // Bounded: at most 1M posts per poster per iteration.
              for (long i = 0; i < 1'000'000 && go.load(std::memory_order_relaxed); ++i) {
                io->post([&ran] { ++ran; });
                ++posts;
              }
            });
          }
          std::this_thread::sleep_for(200us);
          io->stop();  // the posters are still posting: from here on posts must be dropped
          go = false;
          for (auto& p : posters) p.join();
          posted += posts;
          io.reset();
        }
        if (posted == 0) return 2;
        if (ran > posted) return 3;
        return 0;
      },
      {}, std::chrono::seconds(20));  // normally well under a second
  CHECK_MESSAGE(r.exited(), "child crashed or hung (status " << r.status << ", signal "
                                                             << r.signal() << "): " << r.output);
  CHECK_MESSAGE(r.exit_code() == 0, "child exit code " << r.exit_code() << ": " << r.output);
}
