// The blocking monitor: a watchdog thread that reports greenlets running too long without
// yielding, i.e. blocking their hub (gevent's monitor thread, GEVENT_MONITOR_THREAD_ENABLE).
//
//   gev::start_blocking_monitor(100ms);   // or GEV_MONITOR=1 in the environment
//   ...
//   // stderr: gev: greenlet 'worker' has run for 103 ms without yielding (blocking its hub)
//
// Every hub of the process is watched. A hub whose switch counter has not moved for longer than
// the threshold while it runs a greenlet (or its main greenlet) is reported once per incident,
// naming the greenlet. A hub idling in its event loop is never reported. The reported time is a
// lower bound (the monitor samples every threshold/4).
//
// Cost: while the monitor runs, every switch copies the next greenlet's name into a small
// per-hub buffer; while it is off, a switch pays one predictable branch.
//
// Environment: GEV_MONITOR=1 starts the monitor when the program loads gev, with the threshold
// GEV_MONITOR_THRESHOLD_MS (default 100). The monitor thread does not survive fork(); start it
// again in the child if wanted.
#pragma once

#include <chrono>

#include "gev/hub/hub.hpp"

namespace gev {

/// Starts the watchdog thread, or changes the threshold of the running one. A greenlet (or main)
/// that runs longer than `threshold` without yielding is reported on stderr, once per incident.
void start_blocking_monitor(Duration threshold = std::chrono::milliseconds(100));
/// Stops and joins it. A no-op when not running.
void stop_blocking_monitor();
/// Whether the watchdog thread runs (in this process: it does not survive fork()).
bool blocking_monitor_running();

}  // namespace gev
