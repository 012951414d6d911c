#include "gev/runtime/lock.hpp"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>

namespace gev {

Semaphore::Semaphore(std::size_t value)
    : Semaphore(value, std::numeric_limits<std::size_t>::max(), "Semaphore") {}

Semaphore::Semaphore(std::size_t value, std::size_t bound, const char* kind)
    : hub_(&Hub::current()), count_(value), bound_(bound), kind_(kind) {}

Semaphore::~Semaphore() {
  if (!acquirers_.empty() || !watchers_.empty()) {
    std::fprintf(stderr, "gev: %s destroyed while greenlets are parked on it\n", kind_);
    std::terminate();
  }
}

bool Semaphore::acquire(bool blocking, std::optional<Duration> timeout) {
  hub_->check_thread("gev::Semaphore::acquire");
  if (count_ > 0 && acquirers_.empty()) {
    --count_;
    return true;
  }
  if (!blocking) return false;
  detail::Waiter w(acquirers_, *hub_);
  if (!detail::WaitList::wait(w, timeout, "Semaphore.acquire")) return false;
  w.accept();  // the permit handed over in dispatch() is ours
  return true;
}

void Semaphore::release() {
  hub_->check_thread("gev::Semaphore::release");
  if (count_ >= bound_) {
    throw SemaphoreOverflow(std::string("gev::") + kind_ +
                            "::release(): released more times than " + "acquired (bound " +
                            std::to_string(bound_) + ")");
  }
  ++count_;
  dispatch();
}

// Hands free permits to parked acquirers, first come first served; wakes the wait()ers if
// a permit is still free afterwards.
void Semaphore::dispatch() noexcept {
  while (count_ > 0 && !acquirers_.empty()) {
    --count_;
    acquirers_.notify_one();
  }
  if (count_ > 0) watchers_.notify_all();
}

// An acquirer was handed a permit but was killed or timed out before taking it: give it back.
void Semaphore::give_back(detail::WaitList& list, detail::Waiter&) noexcept {
  Semaphore* self = static_cast<AcquireList&>(list).owner;
  ++self->count_;
  self->dispatch();
}

bool Semaphore::wait(std::optional<Duration> timeout) {
  hub_->check_thread("gev::Semaphore::wait");
  if (count_ > 0) return true;
  detail::Waiter w(watchers_, *hub_);
  if (!detail::WaitList::wait(w, timeout, "Semaphore.wait")) return false;
  w.accept();
  return true;
}

BoundedSemaphore::BoundedSemaphore(std::size_t value)
    : BoundedSemaphore(value, "BoundedSemaphore") {}

BoundedSemaphore::BoundedSemaphore(std::size_t value, const char* kind)
    : Semaphore(value, value, kind) {}

Lock::Lock() : BoundedSemaphore(1, "Lock") {}

RLock::RLock() : hub_(&Hub::current()) {}

bool RLock::is_owned() const noexcept {
  return owner_ != nullptr && hub_->in_own_thread() && owner_ == &hub_->current_fiber();
}

bool RLock::acquire(bool blocking, std::optional<Duration> timeout) {
  hub_->check_thread("gev::RLock::acquire");
  detail::Fiber* me = &hub_->current_fiber();
  if (owner_ == me) {
    ++count_;
    return true;
  }
  if (!block_.acquire(blocking, timeout)) return false;
  owner_ = me;  // no blocking point between the hand-off and here
  count_ = 1;
  return true;
}

void RLock::release() {
  hub_->check_thread("gev::RLock::release");
  if (owner_ == nullptr || owner_ != &hub_->current_fiber()) {
    throw LockNotOwned(owner_ == nullptr
                           ? "gev::RLock::release(): the lock is not held"
                           : "gev::RLock::release(): the lock is held by another greenlet");
  }
  if (--count_ == 0) {
    owner_ = nullptr;
    block_.release();
  }
}

}  // namespace gev
