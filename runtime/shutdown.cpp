#include "gev/runtime/shutdown.hpp"

#include <cstdio>

#include "gev/runtime/joinall.hpp"
#include "gev/runtime/sleep.hpp"

namespace gev::detail {

void ShutdownFn::operator()(Duration grace) const {
  Hub& hub = Hub::current();
  if (hub.in_hub()) throw BlockingSwitchOutError("gev::shutdown called inside the hub (a callback)");
  Fiber* self = &hub.current_fiber();

  // The main greenlet's wait at this moment; if it is still the same wait after the kills,
  // shutdown ends it too.
  Fiber& main = hub.main_fiber();
  const bool main_was_parked = self != &main && main.state() == Fiber::State::parked;
  const std::uint32_t main_park = main.park_count();

  // Kill what is alive now (gevent.killall semantics: a snapshot; what the kills spawn, such as
  // link callbacks, runs normally).
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
  for (Fiber* f : others) f->fiber_abandon();
  killall(greenlets, {.block = true, .timeout = grace});
  if (!others.empty()) gev::sleep(Duration::zero());

  std::size_t alive = 0;
  for (const auto& g : greenlets) alive += g->ready() ? 0 : 1;
  if (alive > 0) {
    std::fprintf(stderr, "gev::shutdown: %zu greenlet(s) still alive after the grace period: %s\n",
                 alive, hub.describe_fibers(10).c_str());
  }
  if (main_was_parked && main.state() == Fiber::State::parked && main.park_count() == main_park &&
      main.parked_on() && std::string_view(main.parked_on()) != "wait()") {
    hub.interrupt(main, std::make_exception_ptr(GreenletExit()), true);
  }
}

}  // namespace gev::detail
