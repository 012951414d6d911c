#include "gev/runtime/timeout.hpp"

#include <atomic>
#include <cstdio>

#include "gev/hub/park_timer.hpp"

namespace gev {
namespace {

std::uint64_t next_timeout_id() noexcept {
  static std::atomic<std::uint64_t> counter{0};  // process-wide: is() never confuses threads
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

Timeout::Timeout(std::optional<Duration> seconds, Deferred)
    : seconds_(seconds), id_(next_timeout_id()) {}

const char* Timeout::what() const noexcept {
  if (message_[0] == '\0') {
    if (seconds_) {
      std::snprintf(message_, sizeof message_, "gev::Timeout after %.3f s",
                    static_cast<double>(seconds_->count()) * 1e-9);
    } else {
      std::snprintf(message_, sizeof message_, "gev::Timeout (never)");
    }
  }
  return message_;
}

Timeout::Timeout(std::optional<Duration> seconds) : Timeout(seconds, deferred) {
  start();
}

Timeout::Timeout(const Timeout& other) noexcept
    : BaseException(other), seconds_(other.seconds_), id_(other.id_) {}

Timeout::~Timeout() {
  cancel();
}

void Timeout::start() {
  Hub& hub = Hub::current();
  if (hub.in_hub()) {
    throw BlockingSwitchOutError("gev: a Timeout cannot be started inside the hub (a callback)");
  }
  cancel();
  if (!seconds_) return;  // never fires, no timer
  hub_ = &hub;
  target_ = &hub.current_fiber();
  target_death_.owner = this;
  target_->add_death_hook(target_death_);
  ev_now_update(hub.loop());
  ev_timer_init(&timer_, &Timeout::on_timer, to_ev_seconds(*seconds_), 0.0);
  timer_.data = this;
  ev_timer_start(hub.loop(), &timer_);
  armed_ = true;
}

void Timeout::cancel() noexcept {
  if (!armed_) return;
  if (!hub_->in_own_thread()) {
    std::fputs("gev: Timeout cancelled from a thread other than its hub's; ignored\n", stderr);
    return;
  }
  ev_timer_stop(hub_->loop(), &timer_);
  armed_ = false;
  if (target_death_.linked()) detail::IntrusiveList::erase(target_death_);
}

void Timeout::on_timer(struct ev_loop*, ev_timer* w, int) noexcept {
  auto* self = static_cast<Timeout*>(w->data);
  self->armed_ = false;
  if (self->target_death_.linked()) detail::IntrusiveList::erase(self->target_death_);
  std::exception_ptr error;
  try {
    error = std::make_exception_ptr(Timeout(*self));
  } catch (...) {
    error = std::current_exception();  // bad_alloc: still wake the greenlet with an error
  }
  self->hub_->interrupt(*self->target_, std::move(error), false);
}

}  // namespace gev
