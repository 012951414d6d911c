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
// The type-independent part: readiness, the exception, the waiters.
class AsyncResultBase {
 public:
  AsyncResultBase(const AsyncResultBase&) = delete;
  AsyncResultBase& operator=(const AsyncResultBase&) = delete;

  bool ready() const noexcept { return ready_; }
  bool successful() const noexcept { return ready_ && !exception_; }
  std::exception_ptr exception() const noexcept { return exception_; }

  // Stores an exception; get() rethrows it. Wakes every waiter.
  void set_exception(std::exception_ptr error);

  // Parks until ready (true) or until `timeout` passes (false). Never throws the stored
  // exception. A blocking point.
  bool wait(std::optional<Duration> timeout = std::nullopt);

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
};
}  // namespace detail

template <class T = void>
class AsyncResult : public detail::AsyncResultBase {
 public:
  AsyncResult() = default;

  // Stores the value (replacing an earlier one) and wakes every waiter.
  template <class U = T>
  requires std::constructible_from<T, U&&>
  void set(U&& value) {
    value_.emplace(std::forward<U>(value));
    mark_ready();
  }

  // Waits for the result; returns the value or rethrows the stored exception.
  T& get(std::optional<Duration> timeout = std::nullopt) {
    wait_for_get(timeout);
    return *value_;
  }
  // get() without waiting: throws gev::Timeout if not ready (gevent's get(block=False)).
  T& get_nowait() { return get(Duration::zero()); }

  const std::optional<T>& value() const noexcept { return value_; }

 private:
  std::optional<T> value_;
};

template <>
class AsyncResult<void> : public detail::AsyncResultBase {
 public:
  AsyncResult() = default;
  void set() { mark_ready(); }
  void get(std::optional<Duration> timeout = std::nullopt) { wait_for_get(timeout); }
  void get_nowait() { get(Duration::zero()); }
};

}  // namespace gev
