// shutdown: kill every greenlet, let RAII unwind, stop the program's waits (the seed's
// `gevent.signal(signal.SIGQUIT, gevent.shutdown)` pattern).
//
//   gev::signal_handler(SIGQUIT, gev::shutdown);
//
// What it does, from whichever greenlet calls it:
//   1. throws GreenletExit in every other greenlet alive at that moment (those not yet started
//      never run) and waits up to `grace` (5 s by default) for them to unwind; greenlets still
//      alive after that (they caught GreenletExit) are named on stderr;
//   2. when called from another greenlet (e.g. a signal handler) while main() was blocked, and
//      main is still in that same wait afterwards, ends it: joins and gev::wait() have simply
//      returned by then (everything they waited for is done), any other wait (a sleep, a
//      server loop) gets GreenletExit. If main() does not catch it, the program exits with
//      status 0 after flushing stdio, like Python's SystemExit; objects on main's own stack are
//      then not destroyed, so catch gev::GreenletExit in main() where that matters.
// The hub keeps working afterwards: signal handlers stay installed and new spawns run.
#pragma once

#include <chrono>

#include "gev/hub/hub.hpp"

namespace gev {

/// @cond INTERNAL
namespace detail {
struct ShutdownFn {
  void operator()(Duration grace = std::chrono::seconds(5)) const;
};
}  // namespace detail
/// @endcond

/// Kills every greenlet, lets RAII unwind, stops the program's waits: `shutdown(grace)`.
///
/// From whichever greenlet calls it: throws GreenletExit in every other greenlet alive at that
/// moment (those not yet started never run) and waits up to `grace` (5 s by default) for them to
/// unwind; greenlets still alive after that are named on stderr. When called from another
/// greenlet (e.g. a signal handler) while main() was blocked, it also ends that wait: joins and
/// gev::wait() have returned, any other wait gets GreenletExit. Uncaught in main(), that exits
/// the program with status 0 without destroying the objects on main's stack, so catch
/// gev::GreenletExit in main() where that matters. The hub keeps working afterwards. A function
/// object, so `gev::shutdown` can be handed to signal_handler as it is.
inline constexpr detail::ShutdownFn shutdown{};

}  // namespace gev
