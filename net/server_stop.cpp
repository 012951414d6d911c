#include "gev/net/detail/server_stop.hpp"

#include <exception>

#include "gev/hub/error_hook.hpp"
#include "gev/hub/park_timer.hpp"

namespace gev::net::detail {

void ServerStop::wait_stopped() const {
  std::shared_ptr<State> state = state_;  // the server may be destroyed while we wait
  state->done.wait();
}

bool ServerStop::wait_for(const std::shared_ptr<State>& state) {
  while (!state->done.is_set() && state->running) {
    std::shared_ptr<Event> ended = state->attempt_ended;
    ended->wait();
  }
  return state->done.is_set();
}

bool ServerStop::stop(std::optional<Duration> timeout, bool from_server,
                      const std::function<void()>& stop_intake, const std::string& stopper_name) {
  std::shared_ptr<State> state = state_;
  if (state->done.is_set()) return state->clean;
  if (from_server) {
    // A handler cannot wait for itself (its pool's join would include it): stop taking work now
    // and finish in a new greenlet.
    if (!stopping_) {
      stopping_ = true;
      stop_intake();
      stopper_ = gev::spawn(SpawnOptions{.name = stopper_name}, [this, timeout] { run(timeout); });
    }
    return false;
  }
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> deadline;
  if (timeout) deadline = deadline_after(*timeout);
  // Another greenlet is stopping the server: wait for it (the server may be destroyed meanwhile:
  // only `state` is touched until it is known to be alive and not stopped).
  if (wait_for(state)) return state->clean;
  // A stopper a handler started but that has not run yet: this call does its work instead.
  if (stopper_ && !stopper_->ready()) stopper_->kill();
  stopping_ = true;
  std::optional<Duration> left;
  if (deadline) {
    left =
        std::max(Duration::zero(), std::chrono::duration_cast<Duration>(*deadline - Clock::now()));
  }
  return run(left);
}

bool ServerStop::run(std::optional<Duration> timeout) {
  std::shared_ptr<State> state = state_;
  // However this ends (a kill or a gev::Timeout included), waiting stop() calls wake up: they
  // find the server stopped or take over.
  state->running = true;
  state->attempt_ended = std::make_shared<Event>();
  struct Running {
    State& state;
    std::shared_ptr<Event> ended;
    ~Running() {
      state.running = false;
      ended->set();
    }
  } running{*state, state->attempt_ended};
  const bool clean = work_(timeout);
  state->clean = clean;
  state->done.set();
  return clean;
}

void ServerStop::on_destroy(const char* server_name) noexcept {
  std::shared_ptr<State> state = state_;
  if (state->done.is_set()) return;
  try {
    // Another greenlet (maybe the stopper a handler started) is stopping the server and using
    // its members: let it finish, or take over if it is killed.
    if (!wait_for(state)) {
      if (stopper_ && !stopper_->ready()) stopper_->kill();  // not started yet: never will
      stopping_ = true;
      run(Duration::zero());
    }
  } catch (...) {
    report_error(std::string(server_name) + " destructor", std::current_exception());
  }
  if (!state->done.is_set()) {  // whoever still waits must not touch the server any more
    state->clean = false;
    state->done.set();
  }
}

}  // namespace gev::net::detail
