// Pool::map, imap_unordered, imap and apply: a function over items, at most capacity() at once.
#include <gev/gev.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <vector>

int slow_square(int n) {
  gev::sleep(std::chrono::milliseconds(10 * n));  // bigger numbers take longer
  return n * n;
}

int main() {
  gev::Pool pool{3};
  std::vector<int> items{3, 1, 2};

  std::printf("map:");  // results in input order
  for (int r : pool.map(slow_square, items)) std::printf(" %d", r);
  std::printf("\nimap_unordered:");  // results as they complete
  for (int r : pool.imap_unordered(slow_square, items)) std::printf(" %d", r);
  std::printf("\napply: %d\n", pool.apply(slow_square, 4));  // one call, in the pool

  // A failing item rethrows at its position when the results are read.
  auto check = [](int n) {
    if (n == 2) throw std::invalid_argument("item 2 is invalid");
    return n;
  };
  try {
    for (int r : pool.imap(check, std::vector{1, 2, 3})) std::printf("imap: %d\n", r);
  } catch (const std::invalid_argument& e) {
    std::printf("imap failed: %s\n", e.what());
  }
  pool.join();  // item 3 may still be running
}
