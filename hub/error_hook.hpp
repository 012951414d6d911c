// Where uncaught errors go. An exception that escapes a greenlet or a hub callback is never lost:
// it is stored (for greenlets) and reported once through the error hook. The default hook prints
// one line to stderr: "gev: greenlet 'NAME' failed with TYPE: WHAT".
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <string_view>

namespace gev {

/// An uncaught error, as passed to the error hook.
struct ErrorReport {
  std::string_view context;  ///< Where it happened: "greenlet 'Greenlet-3'", "hub callback", ...
  std::exception_ptr error;  ///< The exception.
};

/// The error hook's type: called once for each uncaught error (see set_error_hook()).
using ErrorHook = std::function<void(const ErrorReport&)>;

/// Replaces the process-wide hook and returns the previous one. Passing an empty function
/// restores the default (print to stderr). The hook runs on the thread of the hub where the error
/// happened, often inside the hub itself: it must not block. Contexts look like
/// "greenlet 'NAME'", "link callback of greenlet 'NAME'", "hub callback", "signal handler".
ErrorHook set_error_hook(ErrorHook hook);

/// Reports through the current hook. Never throws.
void report_error(std::string_view context, std::exception_ptr error) noexcept;

/// "TYPE: WHAT" for any exception gev knows how to describe (std::exception, gev::BaseException).
std::string describe_exception(const std::exception_ptr& error);

}  // namespace gev
