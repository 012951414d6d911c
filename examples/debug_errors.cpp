// Debugging: the error hook, describe_fibers(), and LoopExit instead of a silent hang.
#include <gev/gev.hpp>

#include <cstdio>
#include <stdexcept>

using namespace std::chrono_literals;

int main() {
  gev::ErrorHook previous = gev::set_error_hook([](const gev::ErrorReport& report) {
    std::printf("[my-log] %.*s: %s\n", static_cast<int>(report.context.size()),
                report.context.data(), gev::describe_exception(report.error).c_str());
  });
  auto worker = gev::spawn({.name = "worker"}, [] { throw std::runtime_error("boom"); });
  worker->join();  // join() never rethrows; the hook has reported the failure
  gev::set_error_hook(std::move(previous));  // back to the default (one line on stderr)

  gev::Event never;  // nothing will ever set it
  auto stuck = gev::spawn({.name = "stuck"}, [&never] { never.wait(); });
  gev::sleep(0s);  // let it start and park
  std::printf("live: %s\n", gev::get_hub().describe_fibers().c_str());
  try {
    stuck->join();  // would hang forever: main gets LoopExit instead
  } catch (const gev::LoopExit& e) {
    std::printf("%s\n", e.what());  // names what is still parked
  }
  stuck->kill();
}
