#include <unistd.h>
#include <gev/gev.hpp>
#include <gev/monkey/monkey.hpp>

#include <cstdio>

int main() {
  using namespace std::chrono_literals;
  auto a = gev::spawn([] {
    gev::sleep(1ms);
    return 1;
  });
  auto b = gev::spawn([] { return 2; });
  auto c = gev::spawn([] {
    gev::sleep(0s);
    return 3;
  });
  auto done = gev::joinall({a, b, c});
  std::printf("consumer: %zu greenlets joined, sum %d\n", done.size(),
              a->get() + b->get() + c->get());

  // The toolkit from the installed headers: a generator feeding a queue drained by a pool.
  gev::Generator<int> numbers([](gev::Yield<int>& co) {
    for (int i = 1; i <= 4; ++i) co.yield(i);
  });
  gev::Queue<int> queue;
  gev::Pool pool{2};
  int total = 0;
  for (int n : numbers) queue.put(n);
  queue.close();
  for (int i = 0; i < 2; ++i) {
    pool.spawn([&] {
      for (int n : queue) total += n;
    });
  }
  pool.join();
  std::printf("consumer: toolkit total %d\n", total);

  // gev::monkey from the installed package: a plain usleep(50 ms) parks only its greenlet, so
  // another greenlet keeps ticking meanwhile (unpatched, the thread would sleep: no ticks).
  gev::monkey::patch_all();
  bool slept = false;
  int ticks = 0;
  auto sleeper = gev::spawn([&] {
    ::usleep(50'000);
    slept = true;
  });
  auto ticker = gev::spawn([&] {
    while (!slept) {
      ++ticks;
      gev::sleep(1ms);
    }
  });
  gev::joinall({sleeper, ticker});
  std::printf("consumer: monkey %s\n", ticks >= 3 ? "cooperative" : "blocked");
}
