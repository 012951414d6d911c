// Exceptions raised by the hub. gev's control-flow exceptions (GreenletExit, Timeout) derive
// from gev::BaseException, not std::exception, so a generic `catch (const std::exception&)`
// cannot swallow a kill or a timeout (gevent's BaseException rule). Real errors derive from
// std::exception as usual.
#pragma once

#include <stdexcept>
#include <string>

namespace gev {

/// Root of gev's control-flow exceptions (the analogue of Python's BaseException).
///
/// GreenletExit and Timeout derive from it, not from std::exception, so a generic
/// `catch (const std::exception&)` cannot swallow a kill or a timeout.
class BaseException {
 public:
  virtual ~BaseException() = default;
  /// A description of the exception.
  virtual const char* what() const noexcept = 0;
};

/// Thrown into a greenlet to kill it. Unwinds its stack, so RAII cleans up; a greenlet that
/// ends with it counts as successful. Not a std::exception: `catch (const std::exception&)`
/// lets it pass.
class GreenletExit : public BaseException {
 public:
  /// `GreenletExit`.
  const char* what() const noexcept override { return "GreenletExit"; }
};

/// Raised in the main greenlet when it waits on something nothing can ever wake: no ready
/// greenlets, no active referenced watchers, no pending cross-thread work. The message names
/// what is still registered.
class LoopExit : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A blocking call (sleep, join, socket wait...) was made where switching is impossible: in the
/// hub itself, i.e. inside a post()/rawlink callback or a libev callback.
class BlockingSwitchOutError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// A hub object (a greenlet, a timeout...) was used from a thread other than its hub's.
class InvalidThreadUseError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Two greenlets used an object that allows one waiter at a time (e.g. two readers on a socket).
class ConcurrentObjectUseError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace gev
