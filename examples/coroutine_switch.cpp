// Greenlets take turns at blocking points; spawn() never runs anything by itself.
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

void worker(const char* name, int n) {
  for (int i = 0; i < n; ++i) {
    std::printf("%s %d\n", name, i);
    gev::sleep(0s);  // a blocking point: every other ready greenlet runs before this one resumes
  }
}

int main() {
  auto a = gev::spawn(worker, "a", 3);
  auto b = gev::spawn(worker, "b", 3);
  std::printf("spawned a and b\n");  // printed first: spawn() only queues them for the hub

  gev::joinall({a, b});  // main parks here, and the hub runs a and b in turn
  std::printf("both done\n");

  // Without a blocking point nothing switches: this greenlet runs only when main blocks.
  auto late = gev::spawn([] { std::printf("late greenlet runs\n"); });
  std::printf("main computes without blocking\n");
  late->join();
}
