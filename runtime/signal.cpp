#include "gev/runtime/signal.hpp"

#include <signal.h>
#include <string.h>

#include <list>
#include <string>

#include "gev/hub/waits.hpp"
#include "gev/runtime/greenlet.hpp"

namespace gev {

struct SignalHandler::State {
  Hub* hub = nullptr;
  std::unique_ptr<SignalWatch> watch;
};

namespace {
// Handlers of this thread's hub, kept alive until cancelled or the thread exits. Declared
// after the hub is first used, so destroyed before it.
thread_local std::list<std::shared_ptr<SignalHandler::State>> tl_handlers;
}  // namespace

SignalHandler signal_handler(int signum, std::function<void()> handler) {
  Hub& hub = Hub::current();
  auto state = std::make_shared<SignalHandler::State>();
  state->hub = &hub;
  std::string name =
      std::string("signal-handler(") + (sigabbrev_np(signum) ? "SIG" : "") +
      (sigabbrev_np(signum) ? sigabbrev_np(signum) : std::to_string(signum).c_str()) + ")";
  state->watch = std::make_unique<SignalWatch>(
      hub, signum, [handler, name] { gev::spawn(SpawnOptions{.name = name}, handler); });
  tl_handlers.push_back(state);
  return SignalHandler(signum, std::move(state));
}

void SignalHandler::cancel() {
  if (!state_ || !state_->watch) return;
  state_->hub->check_thread("SignalHandler::cancel");
  state_->watch.reset();
  tl_handlers.remove(state_);
}

bool SignalHandler::active() const noexcept {
  return state_ && state_->watch;
}

}  // namespace gev
