// Stack sizes: the process-wide default and a bigger stack for one deep greenlet.
#include <gev/gev.hpp>

#include <cstdio>
#include <cstring>
#include <stdexcept>

// Recursion that really uses about 1 KiB of stack per level; returns the levels it went down.
int descend(int n) {
  volatile char frame[1024];
  std::memset(const_cast<char*>(frame), 1, sizeof frame);
  return n == 0 ? 0 : frame[0] + frame[sizeof frame - 1] - 1 + descend(n - 1);
}

int main() {
  // 2,000 levels need about 2 MiB: more than the default (256 KiB), so ask for 4 MiB.
  auto deep = gev::spawn({.name = "deep", .stack_size = 4 << 20}, descend, 2000);
  std::printf("%d levels deep on a 4 MiB stack\n", deep->get());

  try {
    gev::set_default_stack_size(4096);  // below kMinStackSize (16 KiB)
  } catch (const std::invalid_argument&) {
    std::printf("default stack size below %zu KiB refused\n", gev::kMinStackSize / 1024);
  }
  const std::size_t before = gev::default_stack_size();
  gev::set_default_stack_size(512 * 1024);  // every later spawn without a size gets 512 KiB
  std::printf("default now %zu KiB\n", gev::default_stack_size() / 1024);
  gev::set_default_stack_size(before);
}
