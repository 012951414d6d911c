// Semaphore, BoundedSemaphore, Lock and RLock, used through std::lock_guard where possible.
#include <gev/gev.hpp>

#include <cstdio>
#include <mutex>

using namespace std::chrono_literals;

int main() {
  gev::Semaphore sem{2};  // at most 2 holders at once
  gev::GreenletList workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(gev::spawn([&sem, i] {
      std::lock_guard hold{sem};  // acquire() ... release(), even on exceptions
      std::printf("worker %d in\n", i);
      gev::sleep(10ms);
      std::printf("worker %d out\n", i);
    }));
  }
  gev::joinall(workers);  // workers 0 and 1 first, then 2 and 3

  gev::Lock lock;
  lock.acquire();
  std::printf("try_lock while held: %d\n", lock.try_lock());
  std::printf("acquire(10ms) while held: %d\n", lock.acquire(10ms));
  lock.release();
  try {
    lock.release();  // a Lock is a BoundedSemaphore(1): one release too many
  } catch (const gev::SemaphoreOverflow& e) {
    std::printf("SemaphoreOverflow: %s\n", e.what());
  }

  gev::RLock rl;  // reentrant: the holding greenlet may take it again
  std::lock_guard outer{rl};
  std::lock_guard inner{rl};
  std::printf("RLock depth %zu, owned by main: %d\n", rl.count(), rl.is_owned());
  auto other = gev::spawn([&rl] {
    try {
      rl.release();  // only the owner may release an RLock
    } catch (const gev::LockNotOwned& e) {
      std::printf("LockNotOwned: %s\n", e.what());
    }
  });
  other->join();
}
