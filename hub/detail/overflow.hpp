// Reports "stack overflow in greenlet NAME" instead of a bare SIGSEGV. A SIGSEGV/SIGBUS handler
// on an alternate signal stack checks whether the fault hit the guard page (or ran just past the
// bottom) of the running greenlet's stack; other faults go to the previous handler.
#pragma once

namespace gev::detail::overflow {

// Installs the process-wide handler (again, if someone replaced it since) and an alternate
// signal stack for this thread.
// Returns the alternate stack to pass to uninstall_for_thread().
void* install_for_thread() noexcept;
void uninstall_for_thread(void* altstack) noexcept;

}  // namespace gev::detail::overflow
