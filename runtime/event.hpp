// Event: a flag greenlets can wait for (gevent.event.Event).
//
//   gev::Event ready;
//   gev::spawn([&] { ...; ready.set(); });
//   ready.wait();          // parks until set(); wait(1s) returns false on timeout
//
// set() wakes every waiter, in the order they started waiting, and each of those waits returns
// true even if clear() is called before the waiter runs. Waiting on an Event that is already
// set returns at once. An Event belongs to the hub of the thread that created it.
#pragma once

#include <optional>

#include "gev/hub/hub.hpp"
#include "gev/runtime/detail/wait_list.hpp"

namespace gev {

/// A flag greenlets can wait for (gevent.event.Event).
///
/// set() wakes every waiter, in the order they started waiting, and each of those waits returns
/// true even if clear() is called before the waiter runs. Waiting on an Event that is already
/// set returns at once. An Event belongs to the hub of the thread that created it.
class Event {
 public:
  /// An unset Event, belonging to the calling thread's hub.
  Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// Sets the flag and wakes every waiter. Idempotent.
  void set();
  /// Resets the flag; later waits park again.
  void clear();
  /// Whether the flag is set.
  bool is_set() const noexcept { return flag_; }
  /// Same as is_set().
  bool ready() const noexcept { return flag_; }

  /// Parks until set (true) or until `timeout` passes (false). A blocking point.
  bool wait(std::optional<Duration> timeout = std::nullopt);

 private:
  Hub* hub_;
  bool flag_ = false;
  detail::WaitList waiters_;
};

}  // namespace gev
