// A one-shot timer that unparks a fiber: the building block of every wait with a timeout.
// It lives on the waiting fiber's stack, so timed waits allocate nothing.
//
//   ParkTimer timer(hub, fiber, timeout);      // nullopt: no timer at all
//   while (!condition()) {
//     if (timer.expired()) return false;
//     hub.park("my wait");
//   }
#pragma once

#include <ev.h>

#include <chrono>

#include <optional>

#include "gev/hub/hub.hpp"

namespace gev {

/// A one-shot timer that unparks a fiber: the building block of every wait with a timeout.
/// It lives on the waiting fiber's stack, so timed waits allocate nothing.
///
/// @code
///   ParkTimer timer(hub, fiber, timeout);      // nullopt: no timer at all
///   while (!condition()) {
///     if (timer.expired()) return false;
///     hub.park("my wait");
///   }
/// @endcode
class ParkTimer {
 public:
  /// Starts a timer that unparks `fiber` after `timeout` (std::nullopt: no timer at all). An
  /// unreferenced timer does not keep the loop alive (for waits on the loop itself).
  ParkTimer(Hub& hub, detail::Fiber& fiber, std::optional<Duration> timeout,
            bool referenced = true);
  ParkTimer(const ParkTimer&) = delete;
  ParkTimer& operator=(const ParkTimer&) = delete;
  /// Stops the timer if it has not fired.
  ~ParkTimer();

  /// Whether the timer fired (and unparked the fiber).
  bool expired() const noexcept { return expired_; }
  /// Whether the timer is running: started and not yet fired.
  bool armed() const noexcept { return armed_; }

 private:
  static void on_timer(struct ev_loop* loop, ev_timer* w, int revents) noexcept;

  Hub& hub_;
  detail::Fiber& fiber_;
  ev_timer timer_;
  bool armed_ = false;
  bool expired_ = false;
  bool referenced_ = true;
};

/// now + d on the steady clock, saturating instead of overflowing for huge durations (a timeout
/// of Duration::max() means "practically never", not "already passed").
inline std::chrono::steady_clock::time_point deadline_after(Duration d) noexcept {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point now = Clock::now();
  const auto left = Clock::time_point::max() - now;
  return d >= left ? Clock::time_point::max()
                   : now + std::chrono::duration_cast<Clock::duration>(d);
}

/// Seconds as libev wants them; negative durations become 0 (fire on the next turn).
inline double to_ev_seconds(Duration d) noexcept {
  return d.count() <= 0 ? 0.0 : static_cast<double>(d.count()) * 1e-9;
}

}  // namespace gev
