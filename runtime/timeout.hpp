// Timeout: raise an exception in a greenlet when a deadline passes (gevent.Timeout).
//
//   {
//     gev::Timeout t{3s};          // armed now, for the current greenlet
//     gev::joinall(jobs);          // throws gev::Timeout at a blocking point after 3 s
//   }                              // destructor cancels it
//
//   gev::Timeout t{3s, gev::Timeout::deferred};  t.start(); ... t.cancel();
//
//   try { ... } catch (const gev::Timeout& e) {
//     if (!e.is(t)) throw;         // nested timeouts are told apart by identity
//   }
//
// The exception is delivered only at a blocking point of the greenlet that started it (a busy
// loop that never blocks cannot be interrupted). Timeout(0) fires on the next loop turn;
// Timeout(std::nullopt) never fires. Timeout derives from gev::BaseException, not
// std::exception, so `catch (const std::exception&)` does not swallow it.
#pragma once

#include <ev.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "gev/hub/errors.hpp"
#include "gev/hub/hub.hpp"

namespace gev {

/// Raises an exception in a greenlet when a deadline passes (gevent.Timeout); it is also the
/// exception thrown.
///
/// The exception is delivered only at a blocking point of the greenlet that started it (a busy
/// loop that never blocks cannot be interrupted). Timeout(0) fires on the next loop turn;
/// Timeout(std::nullopt) never fires. Timeout derives from gev::BaseException, not
/// std::exception, so `catch (const std::exception&)` does not swallow it. The destructor
/// cancels it.
class Timeout : public BaseException {
 public:
  /// Tag type for the constructor that does not arm the timer.
  enum Deferred { deferred };
  /// @var deferred
  /// Not armed until start().

  /// Armed now for the current greenlet.
  explicit Timeout(std::optional<Duration> seconds);
  /// Not armed until start().
  Timeout(std::optional<Duration> seconds, Deferred);
  /// The thrown exception is a copy: same identity (is() is true), never armed.
  Timeout(const Timeout& other) noexcept;
  Timeout& operator=(const Timeout&) = delete;
  /// Cancels the timer.
  ~Timeout() override;

  /// Arms (or re-arms) the timer for the current greenlet.
  void start();
  /// Disarms; a no-op if not armed. Safe to call many times.
  void cancel() noexcept;
  /// Whether the timer is armed.
  bool pending() const noexcept { return armed_; }

  /// Whether `other` is this Timeout or a copy of it: tells nested timeouts apart.
  bool is(const Timeout& other) const noexcept { return id_ == other.id_; }
  /// The duration it was created with; std::nullopt: never fires.
  std::optional<Duration> seconds() const noexcept { return seconds_; }
  /// `gev::Timeout after N s` (or `gev::Timeout (never)`).
  const char* what() const noexcept override;

 private:
  static void on_timer(struct ev_loop*, ev_timer* w, int) noexcept;

  // Disarms the timeout if its greenlet dies first (a heap-held Timeout may outlive it).
  struct TargetDeath final : detail::FiberDeathHook {
    Timeout* owner = nullptr;
    void fiber_died() noexcept override { owner->cancel(); }
  };
  TargetDeath target_death_;

  std::optional<Duration> seconds_;
  std::uint64_t id_;
  Hub* hub_ = nullptr;
  detail::Fiber* target_ = nullptr;
  ev_timer timer_;
  bool armed_ = false;
  mutable char message_[48] = {};  // formatted by the first what()
};

/// Runs fn(args...) under a Timeout of `seconds`; its Timeout propagates if it fires.
template <class F, class... Args>
decltype(auto) with_timeout(Duration seconds, F&& fn, Args&&... args) {
  Timeout timeout{seconds};
  return std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
}

}  // namespace gev
