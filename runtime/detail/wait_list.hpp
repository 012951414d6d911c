// WaitList: the FIFO of parked greenlets every synchronization primitive is built on (Event,
// AsyncResult, Semaphore, Lock, queues, Pool). Waiter nodes live on the waiting greenlets'
// stacks, so waiting allocates nothing.
//
// The hand-off rule that keeps primitives consistent under kill and Timeout:
//   * The notifier decides who gets what. notify_one() unlinks the first waiter, marks it
//     `notified` and makes it ready. A primitive that hands over a resource (a permit, an item,
//     lock ownership) does so at notify time, into the waiter (e.g. `waiter.granted = true`,
//     or an item stored in the primitive's own waiter type), so nobody can barge in between.
//   * The woken greenlet calls `accept()` when it has taken what it was given.
//   * If the greenlet is killed or times out after being notified but before accept(), its
//     destructor calls the primitive's `on_abandon(waiter)` hook, which gives the resource back
//     (typically by notifying the next waiter). No permit, item or wake-up is ever lost.
//     on_abandon runs from ~Waiter, after a derived waiter's own members are destroyed: a
//     waiter type that carries a payload (a queue item) must give it back in its own
//     destructor and then call accept(), not read it in on_abandon.
//
// Typical use (Semaphore::acquire):
//
//   if (count_ > 0 && waiters_.empty()) { --count_; return true; }   // fast path, no barging
//   SemWaiter w(waiters_, hub);                                      // enqueued at the back
//   ParkTimer timer(hub, w.fiber(), timeout);
//   while (!w.notified()) {
//     if (timer.expired()) return false;                             // ~Waiter unlinks it
//     hub.park("Semaphore.acquire");
//   }
//   w.accept();                                                      // the permit is ours
//   return true;
#pragma once

#include <cstddef>
#include <optional>

#include "gev/hub/fiber.hpp"
#include "gev/hub/hub.hpp"
#include "gev/hub/park_timer.hpp"

namespace gev::detail {

class WaitList;

class Waiter : public ListNode {
 public:
  // Enqueues the current greenlet at the back of `list`.
  Waiter(WaitList& list, Hub& hub) noexcept;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  // Unlinks a waiter still queued; for one notified but not accepted, calls list.on_abandon.
  virtual ~Waiter();

  bool notified() const noexcept { return notified_; }
  void accept() noexcept { accepted_ = true; }
  Fiber& fiber() const noexcept { return *fiber_; }
  Hub& hub() const noexcept { return *hub_; }

 private:
  friend class WaitList;
  WaitList* list_;
  Hub* hub_;
  Fiber* fiber_;
  bool notified_ = false;
  bool accepted_ = false;
};

class WaitList {
 public:
  // `on_abandon(w)` runs when a notified waiter is destroyed without accept() (killed or timed
  // out after the hand-off). It must give back what was handed to `w`. Default: pass the
  // wake-up on to the next waiter.
  using AbandonFn = void (*)(WaitList& list, Waiter& w) noexcept;
  explicit WaitList(AbandonFn on_abandon = &WaitList::pass_on) noexcept : on_abandon_(on_abandon) {}
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  bool empty() const noexcept { return list_.empty(); }
  std::size_t size() const noexcept { return list_.size(); }
  // The first waiter without removing it (to hand it something before notify_one()).
  Waiter* front() const noexcept { return static_cast<Waiter*>(list_.front()); }

  // Wakes the first waiter; returns it, or nullptr if none was waiting.
  Waiter* notify_one() noexcept;
  // Wakes every waiter queued now, in FIFO order. Returns how many.
  std::size_t notify_all() noexcept;

  static void pass_on(WaitList& list, Waiter& w) noexcept;

  // Parks `w` until notified or `timeout`/interrupt. Returns true if notified.
  static bool wait(Waiter& w, std::optional<Duration> timeout, const char* reason);

 private:
  friend class Waiter;
  IntrusiveList list_;
  AbandonFn on_abandon_;
};

inline Waiter::Waiter(WaitList& list, Hub& hub) noexcept
    : list_(&list), hub_(&hub), fiber_(&hub.current_fiber()) {
  list.list_.push_back(*this);
}

inline Waiter::~Waiter() {
  if (linked()) {
    IntrusiveList::erase(*this);
  } else if (notified_ && !accepted_) {
    list_->on_abandon_(*list_, *this);
  }
}

inline Waiter* WaitList::notify_one() noexcept {
  auto* w = static_cast<Waiter*>(list_.pop_front());
  if (!w) return nullptr;
  w->notified_ = true;
  w->hub_->unpark(*w->fiber_);
  return w;
}

inline std::size_t WaitList::notify_all() noexcept {
  std::size_t n = 0;
  while (notify_one()) ++n;
  return n;
}

inline void WaitList::pass_on(WaitList& list, Waiter&) noexcept { list.notify_one(); }

inline bool WaitList::wait(Waiter& w, std::optional<Duration> timeout, const char* reason) {
  ParkTimer timer(*w.hub_, *w.fiber_, timeout);
  while (!w.notified_) {
    if (timer.expired()) return false;
    w.hub_->park(reason);
  }
  return true;
}

}  // namespace gev::detail
