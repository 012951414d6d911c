// sleep, idle and wait: the simplest ways to give the hub the floor.
#pragma once

#include <optional>

#include "gev/hub/hub.hpp"

namespace gev {

/// Park the current greenlet for `d`. sleep(0s) (or any d <= 0) yields: every other ready
/// greenlet runs first, then this one resumes. A blocking point: a kill or a Timeout may throw.
void sleep(Duration d);

/// Park until the hub has a turn in which nothing else was ready (gevent.idle()).
void idle();

/// Run until there is nothing left to do (gevent.wait()): returns when no greenlet is ready and
/// no referenced watcher, KeepAlive or pending post remains. With a timeout, returns false if it
/// passed first.
bool wait(std::optional<Duration> timeout = std::nullopt);

}  // namespace gev
