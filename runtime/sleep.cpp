#include "gev/runtime/sleep.hpp"

#include "gev/hub/park_timer.hpp"

namespace gev {

void sleep(Duration d) {
  Hub& hub = Hub::current();
  if (d.count() <= 0) {
    hub.yield();
    return;
  }
  if (hub.in_hub()) throw BlockingSwitchOutError("gev: sleep() called inside the hub (a callback)");
  ParkTimer timer(hub, hub.current_fiber(), d);
  while (!timer.expired()) hub.park("sleep");
}

void idle() {
  Hub::current().idle();
}

bool wait(std::optional<Duration> timeout) {
  return Hub::current().wait_until_idle(timeout);
}

}  // namespace gev
