// shutdown: kill every greenlet, let RAII unwind, stop the program's waits (the seed's
// `gevent.signal(signal.SIGQUIT, gevent.shutdown)` pattern).
//
//   gev::signal_handler(SIGQUIT, gev::shutdown);
//
// What it does, from whichever greenlet calls it:
//   1. throws GreenletExit in every other greenlet of this thread's hub (those not yet started
//      never run) and waits up to `grace` (5 s by default) for them to finish;
//   2. if the main greenlet is still parked in anything but gev::wait(), throws GreenletExit
//      there too, so a main() blocked in a server loop returns through its RAII. gev::wait()
//      and joins simply return, since everything they waited for is done.
// Greenlets that outlive `grace` by catching GreenletExit are named on stderr.
#pragma once

#include <chrono>

#include "gev/hub/hub.hpp"

namespace gev {

namespace detail {
struct ShutdownFn {
  void operator()(Duration grace = std::chrono::seconds(5)) const;
};
}  // namespace detail

// A function object, so `gev::shutdown` can be handed to signal_handler as it is.
inline constexpr detail::ShutdownFn shutdown{};

}  // namespace gev
