// Runs every example program and checks that it behaves as the seed document describes.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

struct Run {
  int exit_code = -1;
  std::string output;
  double seconds = 0;
};

Run run_example(const std::string& name) {
  const std::string cmd = std::string(GEV_EXAMPLES_DIR) + "/" + name + " 2>&1";
  Run r;
  auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE(
    "greenlet_states: the seed's states table, for a greenlet that succeeds and one that fails") {
  Run r = run_example("greenlet_states");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "after spawn:  started=true ready=false successful=false value=none"));
  CHECK(contains(r.output,
                 "worker1 done: started=true ready=true successful=true value=42 exception=none"));
  CHECK(contains(r.output,
                 "worker2 done: started=true ready=true successful=false value=none "
                 "exception=std::runtime_error: worker failed"));
  CHECK(contains(r.output, "worker1->get() = 42"));
  CHECK(contains(r.output, "worker2->get() threw: worker failed"));
}

TEST_CASE("greenlet_subclass: prints the message, sleeps n seconds, joins") {
  Run r = run_example("greenlet_subclass");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.rfind("Hi there!\n", 0) == 0);
  CHECK(contains(r.output, "successful=true"));
  CHECK(r.seconds >= 2.9);  // it really slept its 3 s
  CHECK(r.seconds < 60);
}

TEST_CASE("demo: sleepers, timeout!!, SIGQUIT shutdown, LoopExit") {
  Run r = run_example("demo");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "1. 10000 greenlets slept 100 ms each"));
  CHECK(contains(r.output, "sum of results 49995000"));
  CHECK(contains(r.output, "2. timeout!!"));
  CHECK(contains(r.output, "2 of 3 jobs had finished"));
  CHECK(contains(r.output,
                 "3. SIGQUIT -> gev::shutdown: 1000 of 1000 blocked greenlets got "
                 "GreenletExit, 1000 RAII destructors ran"));
  CHECK(contains(r.output, "4. instead of hanging forever: gev::LoopExit"));
  CHECK(contains(r.output, "demo done."));
}

TEST_CASE("readme_example: the README's program prints what the README says") {
  Run r = run_example("readme_example");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output ==
        "fetched 2 after 10 ms\n"
        "fetched 1 after 30 ms\n"
        "results: 10 20\n"
        "timeout!!\n"
        "slow: dead=1 successful=1\n");
}

TEST_CASE("event_async_result: subscribers wake on set; worker3 runs while the waiter is parked") {
  Run r = run_example("event_async_result");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output ==
        "subscriber 1 waiting\n"
        "subscriber 2 waiting\n"
        "subscriber 3 waiting\n"
        "publisher sets the event\n"
        "subscriber 1 got the event\n"
        "subscriber 2 got the event\n"
        "subscriber 3 got the event\n"
        "worker3\n"
        "Hello!\n");
  CHECK(r.seconds >= 2.9);  // the setter really slept its 3 s
}
