// gev::Timeout: an RAII scope (with gevent.Timeout(...)), the deferred form, and with_timeout.
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

int slow_answer(std::chrono::milliseconds delay) {
  gev::sleep(delay);
  return 42;
}

int main() {
  // Armed by the constructor, cancelled by the destructor: `with gevent.Timeout(0.05):`.
  try {
    gev::Timeout timeout{50ms};
    gev::sleep(10ms);  // in time
    std::printf("first sleep done, timeout pending=%d\n", timeout.pending());
    gev::sleep(1s);  // thrown here, 40 ms later
    std::printf("not reached\n");
  } catch (const gev::Timeout& e) {
    std::printf("caught: %s\n", e.what());
  }

  // Deferred: gevent.Timeout(0.05) then timeout.start(); cancel() disarms it.
  gev::Timeout t{50ms, gev::Timeout::deferred};
  std::printf("deferred: pending=%d\n", t.pending());
  t.start();
  gev::sleep(10ms);
  t.cancel();        // the work finished in time
  gev::sleep(60ms);  // past the deadline: nothing happens
  std::printf("cancelled in time: pending=%d\n", t.pending());

  // with_timeout(d, fn, args...): fn's result, or the Timeout.
  std::printf("with_timeout: %d\n", gev::with_timeout(100ms, slow_answer, 10ms));
  try {
    gev::with_timeout(10ms, slow_answer, 100ms);
  } catch (const gev::Timeout& e) {
    std::printf("with_timeout: %s\n", e.what());
  }

  // Greenlets take timeouts directly: join(d) returns false, get(d) throws.
  auto g = gev::spawn(slow_answer, 100ms);
  std::printf("join(10ms) = %d\n", g->join(10ms));
  try {
    g->get(10ms);
  } catch (const gev::Timeout&) {
    std::printf("get(10ms) threw gev::Timeout; then get() = %d\n", g->get());
  }
}
