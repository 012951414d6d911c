#include "gev/hub/park_timer.hpp"

namespace gev {

ParkTimer::ParkTimer(Hub& hub, detail::Fiber& fiber, std::optional<Duration> timeout,
                     bool referenced)
    : hub_(hub), fiber_(fiber), referenced_(referenced) {
  if (!timeout) return;
  // The loop's clock is cached per turn; refresh it so long-running turns do not fire us early.
  ev_now_update(hub.loop());
  ev_timer_init(&timer_, &ParkTimer::on_timer, to_ev_seconds(*timeout), 0.0);
  timer_.data = this;
  ev_timer_start(hub.loop(), &timer_);
  if (!referenced_) ev_unref(hub.loop());
  armed_ = true;
}

ParkTimer::~ParkTimer() {
  if (!armed_) return;
  if (!referenced_) ev_ref(hub_.loop());
  ev_timer_stop(hub_.loop(), &timer_);
}

void ParkTimer::on_timer(struct ev_loop*, ev_timer* w, int) noexcept {
  auto* self = static_cast<ParkTimer*>(w->data);
  // One-shot: libev has already stopped it (and, for an unreferenced timer, the stop already
  // gave back the reference we took away: libev's ev_ref/ev_unref are plain counters, so
  // rebalance here).
  if (!self->referenced_) ev_ref(self->hub_.loop());
  self->armed_ = false;
  self->expired_ = true;
  self->hub_.unpark(self->fiber_);
}

}  // namespace gev
