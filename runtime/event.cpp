#include "gev/runtime/event.hpp"

namespace gev {
namespace {
// A waiter woken by set() and then killed needs nothing passed on: set() woke everyone.
void nothing_to_return(detail::WaitList&, detail::Waiter&) noexcept {}
}  // namespace

Event::Event() : hub_(&Hub::current()), waiters_(&nothing_to_return) {}

void Event::set() {
  hub_->check_thread("Event::set");
  flag_ = true;
  waiters_.notify_all();
}

void Event::clear() {
  hub_->check_thread("Event::clear");
  flag_ = false;
}

bool Event::wait(std::optional<Duration> timeout) {
  hub_->check_thread("Event::wait");
  if (flag_) return true;
  detail::Waiter w(waiters_, *hub_);
  if (!detail::WaitList::wait(w, timeout, "Event.wait")) return false;
  w.accept();
  return true;
}

}  // namespace gev
