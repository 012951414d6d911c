// Nested timeouts told apart with is(); a Timeout is not a std::exception; it hits the greenlet
// that armed it.
#include <gev/gev.hpp>

#include <cstdio>
#include <stdexcept>

using namespace std::chrono_literals;

void library_call() {
  try {
    gev::sleep(1s);
  } catch (const std::exception&) {  // generic error handling in library code...
    std::printf("never: a Timeout is not a std::exception\n");
  }
}

int main() {
  gev::Timeout outer{30ms};
  try {
    gev::Timeout inner{200ms};  // the longer one: the outer fires first
    library_call();
  } catch (const gev::Timeout& e) {
    if (!e.is(outer)) throw;  // not ours: let it go up
    std::printf("outer fired (%s), inner is cancelled by its destructor\n", e.what());
  }
  outer.cancel();

  // A Timeout belongs to the greenlet that armed it, and fires at its blocking point.
  auto worker = gev::spawn([] {
    gev::Timeout t{20ms};
    try {
      gev::sleep(1s);
    } catch (const gev::Timeout& e) {
      if (!e.is(t)) throw;
      std::printf("worker timed out\n");
    }
  });
  worker->join();  // main is unaffected: its own wait just sees the worker finish
}
