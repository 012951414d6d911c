#include "gev/runtime/shutdown.hpp"

#include <cstdio>

#include "gev/runtime/joinall.hpp"
#include "gev/runtime/sleep.hpp"

namespace gev::detail {

void ShutdownFn::operator()(Duration grace) const {
  Hub& hub = Hub::current();
  if (hub.in_hub()) throw BlockingSwitchOutError("gev::shutdown called inside the hub (a callback)");
  Fiber* self = &hub.current_fiber();
  const auto deadline = std::chrono::steady_clock::now() + grace;

  // Killing can spawn more (link callbacks): a few rounds until nothing else is alive.
  for (int round = 0; round < 10; ++round) {
    GreenletList greenlets;
    std::vector<Fiber*> others;
    hub.for_each_greenlet([&](Fiber& f) {
      if (&f == self) return;
      if (auto* g = dynamic_cast<GreenletBase*>(&f)) {
        if (auto ref = g->weak_from_this().lock()) {
          greenlets.push_back(std::move(ref));
          return;
        }
      }
      others.push_back(&f);
    });
    if (greenlets.empty() && others.empty()) break;
    for (Fiber* f : others) f->fiber_abandon();
    auto left = std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = Duration::zero();
    killall(greenlets, {.block = true, .timeout = left});
    if (!others.empty()) gev::sleep(Duration::zero());
    if (std::chrono::steady_clock::now() >= deadline) break;
  }

  std::size_t alive = hub.live_greenlets() - (self->is_main() ? 0 : 1);
  if (alive > 0) {
    std::fprintf(stderr, "gev::shutdown: %zu greenlet(s) still alive after the grace period: %s\n",
                 alive, hub.describe_fibers(10).c_str());
  }
  Fiber& main = hub.main_fiber();
  if (self != &main && main.state() == Fiber::State::parked && main.parked_on() &&
      std::string_view(main.parked_on()) != "wait()") {
    hub.interrupt(main, std::make_exception_ptr(GreenletExit()), true);
  }
}

}  // namespace gev::detail
