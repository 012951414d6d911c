// Parking the current greenlet on libev watchers: a file descriptor or a signal. These are the
// hub-level primitives the socket and signal layers build on; they allocate nothing.
#pragma once

#include <ev.h>

#include <functional>
#include <optional>

#include "gev/hub/hub.hpp"

namespace gev {

/// Park until `fd` is ready for `events` (EV_READ, EV_WRITE or both), or until `timeout`.
/// Returns the events that fired, 0 on timeout.
int wait_fd(int fd, int events, std::optional<Duration> timeout = std::nullopt);

/// Park until `signum` is delivered to the process, or until `timeout`. Returns false on timeout.
/// The wait keeps the loop alive (it is a referenced watcher).
bool wait_signal(int signum, std::optional<Duration> timeout = std::nullopt);

/// A signal watcher on a hub: `on_signal` runs in the hub each time `signum` arrives. libev lets
/// only one loop watch a given signal; a second hub asking for it gets std::logic_error.
/// Unreferenced by default (it does not keep the loop alive), like gevent's signal_handler.
/// When the last gev watcher of a signal goes, the signal's previous disposition is restored.
class SignalWatch {
 public:
  /// Starts watching `signum` on `hub`; `referenced`: the watcher keeps the loop alive.
  SignalWatch(Hub& hub, int signum, std::function<void()> on_signal, bool referenced = false);
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;
  /// Stops watching.
  ~SignalWatch();

  /// The signal watched.
  int signum() const noexcept { return signum_; }

 private:
  static void on_signal(struct ev_loop*, ev_signal*, int) noexcept;

  Hub& hub_;
  int signum_;
  bool referenced_;
  std::function<void()> callback_;
  ev_signal watcher_;
};

}  // namespace gev
