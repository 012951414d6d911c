// Event and AsyncResult with timeouts and errors: wait(timeout), get(timeout), set_exception.
#include <gev/gev.hpp>

#include <cstdio>
#include <exception>
#include <stdexcept>

using namespace std::chrono_literals;

int main() {
  gev::Event ready;
  bool was_set = ready.wait(20ms);  // nobody sets it: false after 20 ms
  std::printf("event set in time: %d\n", was_set);

  gev::AsyncResult<int> answer;
  try {
    answer.get_nowait();  // nothing there yet: throws at once
  } catch (const gev::Timeout&) {
    std::printf("get_nowait: not ready\n");
  }
  auto slow = gev::spawn([&] {
    gev::sleep(100ms);
    answer.set(42);
  });
  try {
    answer.get(10ms);  // gev::Timeout: the value comes after 100 ms
  } catch (const gev::Timeout&) {
    std::printf("get(10ms): timed out\n");
  }
  std::printf("get(): %d\n", answer.get());  // waits for the rest of the 100 ms
  slow->join();

  // A failure travels to the reader: get() rethrows it, wait() only reports readiness.
  gev::AsyncResult<void> done;
  auto failing = gev::spawn(
      [&] { done.set_exception(std::make_exception_ptr(std::runtime_error("disk full"))); });
  std::printf("wait(): %d, successful: %d\n", done.wait(), done.successful());
  try {
    done.get();
  } catch (const std::runtime_error& e) {
    std::printf("get() rethrows: %s\n", e.what());
  }
  failing->join();
}
