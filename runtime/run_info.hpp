// Run-info: a text dump of every live greenlet of the calling thread's hub (gevent's
// gevent.util.format_run_info), for debugging hangs and leaks.
//
//   std::fputs(gev::format_run_info().c_str(), stderr);
//
// For each greenlet: its name and id, its state (and, when parked, what it waits in: "sleep",
// "join", "Queue.get", ...), its parent (the greenlet -- or main, or the hub -- that created it),
// where it was created when spawn-site tracking is on (gev::set_track_spawn_site(true) or
// GEV_TRACK_SPAWN=1; see runtime/greenlet.hpp), and a backtrace for the greenlet that calls
// format_run_info(). Backtraces of parked greenlets are not taken (their stacks are not running;
// walking them is not safe without frame pointers): the spawn site and the parked-on reason tell
// where they are.
//
// The blocking monitor (a watchdog for greenlets that do not yield) is in
// runtime/blocking_monitor.hpp.
#pragma once

#include <string>

#include "gev/runtime/greenlet.hpp"

namespace gev {

/// What format_run_info() prints besides each greenlet's name, id, state and parent.
struct RunInfoOptions {
  bool spawn_sites = true;        ///< Print recorded spawn sites.
  bool current_backtrace = true;  ///< Print the calling greenlet's backtrace.
  int max_frames = 16;            ///< Frames per backtrace.
};

/// Every live greenlet of the calling thread's hub (plus the main greenlet), one block each
/// (gevent.util.format_run_info), for debugging hangs and leaks.
std::string format_run_info(const RunInfoOptions& options = {});

/// Symbolized frames (`  #0 symbol+0x1f (object)`), one per line, for a spawn site or a
/// backtrace() capture. Skips the first `skip` frames.
std::string format_frames(void* const* frames, int depth, int skip = 0, int max_frames = 16);

}  // namespace gev
