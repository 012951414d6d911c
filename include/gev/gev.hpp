// gev: gevent for C++. One include for the whole public API.
#pragma once

#include "gev/hub/error_hook.hpp"
#include "gev/hub/errors.hpp"
#include "gev/hub/hub.hpp"
#include "gev/hub/hub_thread.hpp"
#include "gev/hub/stack.hpp"
#include "gev/hub/waits.hpp"
#include "gev/runtime/async_result.hpp"
#include "gev/runtime/event.hpp"
#include "gev/runtime/greenlet.hpp"
#include "gev/runtime/joinall.hpp"
#include "gev/runtime/shutdown.hpp"
#include "gev/runtime/signal.hpp"
#include "gev/runtime/sleep.hpp"
#include "gev/runtime/timeout.hpp"
