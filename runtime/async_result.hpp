// AsyncResult<T>: a value (or an exception) that will be available later
// (gevent.event.AsyncResult; a future).
//
//   gev::AsyncResult<std::string> a;
//   gev::spawn([&] { gev::sleep(3s); a.set("Hello!"); });
//   std::cout << a.get();     // parks until set; get(1s) throws gev::Timeout on expiry
//
// set()/set_exception() wake every waiter; a later set replaces the value (as in gevent).
// get() returns a reference to the stored value, or rethrows the stored exception.
// AsyncResult<void> carries completion only. It belongs to the hub of the creating thread.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "gev/hub/hub.hpp"
#include "gev/runtime/detail/wait_list.hpp"
#include "gev/runtime/timeout.hpp"

namespace gev {

namespace detail {
// The type-independent part: readiness, the exception, the waiters. Its public members are part
// of AsyncResult's API: the API reference shows them on AsyncResult's pages.
/// The part of AsyncResult that does not depend on T: a base class of AsyncResult, whose page
/// lists these members too; use AsyncResult.
class AsyncResultBase {
 public:
  AsyncResultBase(const AsyncResultBase&) = delete;
  AsyncResultBase& operator=(const AsyncResultBase&) = delete;

  /// True once set() or set_exception() was called.
  bool ready() const noexcept { return ready_; }
  /// True once set() was called (ready, with no stored exception).
  bool successful() const noexcept { return ready_ && !exception_; }
  /// The exception stored by set_exception(), or null.
  std::exception_ptr exception() const noexcept { return exception_; }

  /// Stores an exception (replacing an earlier result); get() rethrows it. Wakes every waiter.
  void set_exception(std::exception_ptr error);

  /// Parks until ready (true) or until `timeout` passes (false). Never throws the stored
  /// exception. A blocking point.
  bool wait(std::optional<Duration> timeout = std::nullopt);

  /// @cond INTERNAL
 protected:
  AsyncResultBase();
  void mark_ready();
  // Waits (throwing gev::Timeout when `timeout` passes), then rethrows a stored exception.
  void wait_for_get(std::optional<Duration> timeout);
  Hub* hub_;

 private:
  bool ready_ = false;
  std::exception_ptr exception_;
  WaitList waiters_;
  /// @endcond
};
}  // namespace detail

/// A value (or an exception) that will be available later (gevent.event.AsyncResult; a future).
///
/// set()/set_exception() wake every waiter; a later set replaces the value (as in gevent).
/// get() returns a reference to the stored value, or rethrows the stored exception; wait()
/// parks until ready without throwing it. It belongs to the hub of the creating thread.
template <class T = void>
class AsyncResult : public detail::AsyncResultBase {
 public:
  /// Not ready; belongs to the calling thread's hub.
  AsyncResult() = default;

  /// Stores the value (replacing an earlier one) and wakes every waiter.
  template <class U = T>
  requires std::constructible_from<T, U&&>
  void set(U&& value) {
    value_.emplace(std::forward<U>(value));
    mark_ready();
  }

  /// Waits for the result; returns the value or rethrows the stored exception. Throws
  /// gev::Timeout if `timeout` passes first. A blocking point.
  T& get(std::optional<Duration> timeout = std::nullopt) {
    wait_for_get(timeout);
    return *value_;
  }
  /// get() without waiting: throws gev::Timeout if not ready (gevent's get(block=False)).
  T& get_nowait() { return get(Duration::zero()); }

  /// The value stored by the last set(), or empty before the first; never waits.
  const std::optional<T>& value() const noexcept { return value_; }

 private:
  std::optional<T> value_;
};

/// AsyncResult<void> carries completion only (or an exception).
template <>
class AsyncResult<void> : public detail::AsyncResultBase {
 public:
  /// Not ready; belongs to the calling thread's hub.
  AsyncResult() = default;
  /// Marks it ready (clearing a stored exception) and wakes every waiter.
  void set() { mark_ready(); }
  /// Waits until ready, then rethrows the stored exception if there is one. Throws gev::Timeout
  /// if `timeout` passes first. A blocking point.
  void get(std::optional<Duration> timeout = std::nullopt) { wait_for_get(timeout); }
  /// get() without waiting: throws gev::Timeout if not ready.
  void get_nowait() { get(Duration::zero()); }
};

}  // namespace gev
