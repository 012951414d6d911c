// signal_handler: run a function in a new greenlet each time a signal arrives
// (gevent.signal_handler). Because it runs in a greenlet, the handler may block: join, sleep,
// stop servers, call gev::shutdown.
//
//   gev::signal_handler(SIGQUIT, gev::shutdown);
//
// The handler stays installed until cancel() (dropping the returned handle does not remove
// it). Its watcher is unreferenced: it alone does not keep gev::wait() from returning. One
// thread's hub at a time may watch a given signal.
#pragma once

#include <functional>
#include <memory>

namespace gev {

/// The handle signal_handler() returns. Dropping it does not remove the handler: call cancel().
class SignalHandler {
 public:
  /// Removes the handler; idempotent. The previous disposition of the signal is restored once
  /// no gev watcher uses it.
  void cancel();
  /// The signal this handler watches.
  int signum() const noexcept { return signum_; }
  /// Whether the handler is still installed (not cancelled).
  bool active() const noexcept;

  struct State;  // internal

 private:
  friend SignalHandler signal_handler(int, std::function<void()>);
  SignalHandler(int signum, std::shared_ptr<State> state)
      : signum_(signum), state_(std::move(state)) {}
  int signum_;
  std::shared_ptr<State> state_;
};

/// Runs `handler` in a new greenlet each time `signum` arrives (gevent.signal_handler).
///
/// Because it runs in a greenlet, the handler may block: join, sleep, stop servers, call
/// gev::shutdown. The handler stays installed until SignalHandler::cancel() (dropping the
/// returned handle does not remove it). Its watcher is unreferenced: it alone does not keep
/// gev::wait() from returning. One thread's hub at a time may watch a given signal.
SignalHandler signal_handler(int signum, std::function<void()> handler);

}  // namespace gev
