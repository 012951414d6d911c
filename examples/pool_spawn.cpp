// Pool: a group that bounds how many greenlets run at once; spawn() parks while it is full.
#include <gev/gev.hpp>

#include <algorithm>
#include <cstdio>

using namespace std::chrono_literals;

int running = 0, most = 0;  // how many jobs run now, and at most

void job(int id) {
  most = std::max(most, ++running);
  gev::sleep(50ms);
  --running;
  std::printf("job %d done\n", id);
}

int main() {
  gev::Pool pool{2};                                    // at most 2 jobs at once
  for (int id = 1; id <= 6; ++id) pool.spawn(job, id);  // parks main while 2 jobs run
  // The last spawn returned once job 6 got a slot: jobs 5 and 6 are the members now.
  std::printf("spawned all; members: %zu, free slots: %zu, full: %d\n", pool.size(),
              pool.free_count(), pool.full());
  // Wait for a free slot without taking it: none within 5 ms, since jobs take 50 ms.
  std::printf("a slot within 5 ms: %d\n", pool.wait_available(5ms));
  pool.join();  // until every member has finished
  std::printf("all done; at most %d ran at once; members: %zu\n", most, pool.size());
}
