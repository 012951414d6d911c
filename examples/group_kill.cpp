// Group: spawn into it, join with a timeout, kill every member, join(raise_error).
#include <gev/gev.hpp>

#include <cstdio>
#include <optional>
#include <stdexcept>

using namespace std::chrono_literals;

struct Announce {  // shows that a kill unwinds the member's stack
  int id;
  ~Announce() { std::printf("server %d unwound\n", id); }
};

void serve(int id) {
  Announce a{id};
  gev::sleep(1h);  // a server that never ends on its own
}

int main() {
  gev::Group group;
  for (int id = 1; id <= 3; ++id) group.spawn(serve, id);
  bool empty = group.join(20ms);  // false: they are still running
  std::printf("joined: %d, members: %zu\n", empty, group.size());
  bool all_dead = group.kill();  // GreenletExit in each, then wait for them
  std::printf("killed: %d, members: %zu\n", all_dead, group.size());

  group.spawn([] {
    gev::sleep(5ms);
    throw std::runtime_error("worker failed");  // also reported on stderr by the error hook
  });
  group.spawn([] { gev::sleep(10ms); });
  try {
    group.join(std::nullopt, /*raise_error=*/true);  // waits for both, then rethrows
  } catch (const std::runtime_error& e) {
    std::printf("join rethrew: %s (members: %zu)\n", e.what(), group.size());
  }
}
