// spawn with arguments, names and delays; join with a timeout; get() for values and errors.
#include <gev/gev.hpp>

#include <cstdio>
#include <functional>
#include <stdexcept>

using namespace std::chrono_literals;

int fetch(int id, std::chrono::milliseconds delay) {
  gev::sleep(delay);
  if (id < 0) throw std::invalid_argument("no such id");
  return id * 10;
}

void count_to(int n, int& counter) {
  for (int i = 0; i < n; ++i) ++counter;
}

int main() {
  auto a = gev::spawn(fetch, 1, 30ms);                       // arguments are copied in
  auto b = gev::spawn({.name = "fetch-2"}, fetch, 2, 10ms);  // SpawnOptions: name, stack size
  auto c = gev::spawn_later(20ms, fetch, 3, 0ms);            // starts after 20 ms
  int counter = 0;
  auto d = gev::spawn(count_to, 5, std::ref(counter));  // std::ref to share a variable

  bool finished = a->join(5ms);  // false: 5 ms are not enough; a keeps running
  std::printf("a finished within 5 ms: %d\n", finished);
  gev::joinall({a, b, c, d});
  std::printf("%s=%d a=%d c=%d counter=%d\n", b->name().c_str(), b->get(), a->get(), c->get(),
              counter);

  // get() rethrows what the greenlet threw; join() never does.
  gev::set_error_hook([](const gev::ErrorReport&) {});  // keep stderr quiet for this demo
  auto bad = gev::spawn(fetch, -1, 0ms);
  bad->join();
  try {
    bad->get();
  } catch (const std::invalid_argument& e) {
    std::printf("bad->get() threw: %s\n", e.what());
  }

  // get(timeout) throws gev::Timeout; the greenlet is not affected.
  auto slow = gev::spawn(fetch, 4, 50ms);
  try {
    slow->get(10ms);
  } catch (const gev::Timeout& t) {
    std::printf("slow->get(10ms): %s; slow still running: %d\n", t.what(), !slow->ready());
  }
  std::printf("slow->get() = %d\n", slow->get());
}
