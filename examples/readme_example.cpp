// The README's example: spawn, sleep, joinall and the seed's "timeout!!" pattern.
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

int fetch(int id, std::chrono::milliseconds delay) {
  gev::sleep(delay);  // parks this greenlet only; the others keep running
  std::printf("fetched %d after %lld ms\n", id, static_cast<long long>(delay.count()));
  return id * 10;
}

int main() {
  auto a = gev::spawn(fetch, 1, 30ms), b = gev::spawn(fetch, 2, 10ms);
  gev::joinall({a, b});  // the sleeps overlap: b finishes first
  std::printf("results: %d %d\n", a->get(), b->get());

  auto slow = gev::spawn(fetch, 3, 10s);
  try {
    gev::Timeout timeout{50ms};  // raised at main's blocking point after 50 ms
    slow->join();
  } catch (const gev::Timeout&) {
    std::printf("timeout!!\n");
  }
  slow->kill();  // raises GreenletExit inside slow and waits for it to unwind
}
