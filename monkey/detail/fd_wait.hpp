// Parking a greenlet inside a hook until descriptors are ready, a deadline passes, or the
// descriptor is closed (close/dup2/dup3 onto it) by another greenlet of the same hub.
//
// Every wait registers in a per-thread table indexed by descriptor, so a close() on this thread
// finds the greenlets parked on that descriptor, stops their watchers before the descriptor goes
// (libev must not watch a closed descriptor) and wakes them with EBADF.
#pragma once

#include <ev.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>

#include "gev/hub/hub.hpp"

namespace gev::monkey::detail {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;  // nullopt: wait forever

// Set by patch_all(): the hooks cooperate from then on.
extern std::atomic<bool> g_patched;

// The hub to cooperate with: patch_all() was called, this thread has a hub, and the caller is a
// greenlet or main (not the hub's own fiber). nullptr: call libc directly.
Hub* cooperative_hub() noexcept;

// One descriptor a wait watches (EV_READ and/or EV_WRITE).
struct FdWatch {
  int fd = -1;
  int events = 0;
  int fired = 0;  // out: the events that fired
};

enum class WaitResult { ready, timed_out, closed };

// Parks the current greenlet until one of `watches` is ready (fired filled in), the deadline
// passes, or one of the descriptors is closed on this thread. Throws the greenlet's pending
// interrupt (kill, Timeout) with every watcher stopped.
WaitResult wait_fds(Hub& hub, FdWatch* watches, std::size_t count, const Deadline& deadline);

inline WaitResult wait_fd(Hub& hub, int fd, int events, const Deadline& deadline) {
  FdWatch w{fd, events, 0};
  return wait_fds(hub, &w, 1, deadline);
}

// Wakes the greenlets of this thread parked on `fd` (they see WaitResult::closed) and stops
// their watchers. Called by the close/dup2/dup3 hooks before the descriptor goes.
void descriptor_closing(int fd) noexcept;

// now + d, or nullopt for "no deadline".
inline Deadline deadline_in(std::optional<std::chrono::nanoseconds> d) {
  if (!d) return std::nullopt;
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(*d);
}

}  // namespace gev::monkey::detail
