// ThreadPool: blocking calls run on OS threads while the calling greenlet waits cooperatively.
#include <gev/gev.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

int blocking_square(int n) {
  std::this_thread::sleep_for(200ms);  // blocks a pool thread, not the hub
  return n * n;
}

int main() {
  gev::ThreadPool threads{2};  // at most 2 OS threads, started on demand
  gev::ThreadResult<int> r = threads.spawn(blocking_square, 7);
  auto ticker = gev::spawn([] {
    for (int i = 1; i <= 3; ++i) {
      std::printf("tick %d\n", i);  // the hub keeps running greenlets meanwhile
      gev::sleep(10ms);
    }
  });
  try {
    r.get(5ms);  // gev::Timeout: the task keeps running
  } catch (const gev::Timeout&) {
    std::printf("not done after 5 ms\n");
  }
  int& v = r.get();  // parks main only
  std::printf("7 squared: %d\n", v);

  try {
    threads.apply([] { throw std::runtime_error("read failed"); });  // spawn(...).get()
  } catch (const std::runtime_error& e) {
    std::printf("apply rethrew: %s\n", e.what());
  }
  ticker->join();
  threads.join();  // parks cooperatively until nothing is queued or running
}
