/// @file
/// Semaphores and locks for greenlets (gevent.lock): Semaphore, BoundedSemaphore, Lock, RLock.
///
/// @code
/// gev::Semaphore sem{3};                     // at most 3 holders at once
/// if (sem.acquire(1s)) { ...; sem.release(); }
/// gev::Lock mu;
/// { std::lock_guard guard{mu}; ... }         // std-style lock()/unlock()/try_lock()
/// gev::RLock rl;                             // reentrant; the owner is the current greenlet
/// @endcode
///
/// Fairness: waiters are served strictly FIFO. release() hands the permit directly to the first
/// parked acquirer (no barging: a greenlet that calls acquire() right after a release() cannot
/// steal it). A waiter that is killed or times out after it was handed a permit gives it back to
/// the next waiter, so kills and Timeouts never leak a permit.
///
/// Thread rule: an object belongs to the hub of the thread that created it; using it from another
/// thread throws InvalidThreadUseError. Calls that do not block (release(), acquire(false), the
/// getters) may be made inside the hub (callbacks, rawlinks).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>

#include "gev/hub/hub.hpp"
#include "gev/runtime/detail/wait_list.hpp"

namespace gev {

/// A BoundedSemaphore (or Lock) was released more times than it was acquired (gevent's
/// ValueError "Semaphore released too many times").
class SemaphoreOverflow : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// An RLock was released by a greenlet that does not hold it (gevent's RuntimeError "cannot
/// release un-acquired lock").
class LockNotOwned : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
// std::Lockable / TimedLockable (for std::lock_guard, std::unique_lock, std::scoped_lock) in
// terms of Derived::acquire(blocking, timeout) and Derived::release(). Its public members are
// part of the API of Semaphore (BoundedSemaphore, Lock) and RLock: the API reference shows them
// on their pages.
/// The std Lockable / TimedLockable interface (for std::lock_guard, std::unique_lock and
/// std::scoped_lock) of Semaphore and RLock, whose pages list these members too.
template <class Derived>
class StdLockable {
 public:
  /// acquire(): parks until it is taken. A blocking point.
  void lock() { self().acquire(); }
  /// release().
  void unlock() { self().release(); }
  /// acquire(false): takes it if that needs no wait; returns whether it did.
  bool try_lock() { return self().acquire(false); }
  /// acquire(true, d): parks at most for `d`; returns whether it was taken. A blocking point.
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return self().acquire(true, std::chrono::duration_cast<Duration>(d));
  }
  /// try_lock_for(t - Clock::now()): parks at most until `t`; returns whether it was taken. A
  /// blocking point.
  template <class Clock, class Dur>
  bool try_lock_until(const std::chrono::time_point<Clock, Dur>& t) {
    return try_lock_for(t - Clock::now());
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};
}  // namespace detail

/// A counting semaphore (gevent.lock.Semaphore). Unbounded: release() may raise the counter
/// above its initial value.
///
/// Also a std Lockable / TimedLockable (lock(), unlock(), try_lock(), try_lock_for(),
/// try_lock_until()), for std::lock_guard, std::unique_lock and std::scoped_lock.
class Semaphore : public detail::StdLockable<Semaphore> {
 public:
  /// A semaphore with `value` free permits.
  explicit Semaphore(std::size_t value = 1);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  /// Destroying a semaphore while greenlets are parked on it prints the reason and terminates.
  ~Semaphore();

  /// Takes a permit. With blocking=false, returns at once. Otherwise parks (FIFO) until a permit
  /// is handed over or `timeout` passes; returns false on timeout. A kill or a gev::Timeout
  /// propagates, and a permit handed over meanwhile goes to the next waiter.
  bool acquire(bool blocking = true, std::optional<Duration> timeout = std::nullopt);
  /// acquire(true, timeout).
  bool acquire(Duration timeout) { return acquire(true, timeout); }
  /// Returns a permit, handing it to the first waiter if there is one.
  void release();

  /// Free permits now (permits handed to a woken waiter are no longer free).
  std::size_t counter() const noexcept { return count_; }
  /// True if acquire(false) would fail.
  bool locked() const noexcept { return count_ == 0 || !acquirers_.empty(); }
  /// Greenlets parked in acquire().
  std::size_t waiting() const noexcept { return acquirers_.size(); }

  /// Waits until a permit is free, without taking it (gevent's Semaphore.wait). Returns true if
  /// one was free, false if `timeout` passed first.
  bool wait(std::optional<Duration> timeout = std::nullopt);

 protected:
  /// `bound`: release() beyond it throws SemaphoreOverflow; `kind` names the class in messages.
  Semaphore(std::size_t value, std::size_t bound, const char* kind);

  /// The hub the semaphore belongs to.
  Hub& hub() const noexcept { return *hub_; }

 private:
  struct AcquireList : detail::WaitList {
    explicit AcquireList(Semaphore* o) noexcept : WaitList(&Semaphore::give_back), owner(o) {}
    Semaphore* owner;
  };
  static void give_back(detail::WaitList& list, detail::Waiter& w) noexcept;
  static void ignore_abandon(detail::WaitList&, detail::Waiter&) noexcept {}
  void dispatch() noexcept;

  Hub* hub_;
  std::size_t count_;
  std::size_t bound_;
  const char* kind_;
  AcquireList acquirers_{this};                            // parked in acquire(); FIFO
  detail::WaitList watchers_{&Semaphore::ignore_abandon};  // parked in wait()
};

/// A Semaphore whose release() beyond the initial value throws SemaphoreOverflow
/// (gevent.lock.BoundedSemaphore).
class BoundedSemaphore : public Semaphore {
 public:
  /// A semaphore with `value` free permits, which is also its bound.
  explicit BoundedSemaphore(std::size_t value = 1);

 protected:
  /// `kind` names the class in messages.
  BoundedSemaphore(std::size_t value, const char* kind);
};

/// A binary semaphore, BoundedSemaphore(1): like gevent's and Python's Lock, any greenlet may
/// release it (not only the one that acquired it), and releasing an unlocked Lock throws
/// SemaphoreOverflow. Not reentrant: a holder that acquires again deadlocks (use RLock).
class Lock : public BoundedSemaphore {
 public:
  /// An unlocked lock.
  Lock();
};

/// A reentrant lock (gevent.lock.RLock): the greenlet holding it may acquire it again; it is free
/// once released as many times. The owner is the current greenlet (the main greenlet counts as
/// one). release() by any other greenlet throws LockNotOwned.
///
/// Also a std Lockable / TimedLockable (lock(), unlock(), try_lock(), ...), like Semaphore.
class RLock : public detail::StdLockable<RLock> {
 public:
  /// An unlocked lock.
  RLock();
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  /// Takes the lock, or adds one level if the current greenlet holds it already. Otherwise as
  /// Semaphore::acquire(): FIFO, returns false if not blocking or on timeout.
  bool acquire(bool blocking = true, std::optional<Duration> timeout = std::nullopt);
  /// acquire(true, timeout).
  bool acquire(Duration timeout) { return acquire(true, timeout); }
  /// Drops one level; the last one frees the lock. Throws LockNotOwned unless the current
  /// greenlet holds it.
  void release();

  /// True if held by some greenlet: acquire(false) by a greenlet not holding it would fail.
  bool locked() const noexcept { return owner_ != nullptr || block_.locked(); }
  /// Held by the current greenlet?
  bool is_owned() const noexcept;
  /// Recursion depth of the owner (0 when free).
  std::size_t count() const noexcept { return count_; }

 private:
  Hub* hub_;
  Semaphore block_{1};
  detail::Fiber* owner_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace gev
