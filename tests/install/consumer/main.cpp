#include <gev/gev.hpp>

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
}
