// The stop protocol StreamServer and DatagramServer share (internal). A server's stop() may be
// called from outside, from one of its own handlers (which cannot wait for itself), from several
// greenlets at once, and an attempt may be killed or hit by a gev::Timeout halfway; the server
// may even be destroyed while greenlets still wait in serve_forever() or stop(). ServerStop
// keeps that bookkeeping; the server supplies only its own work: stop taking new work, wait for
// its handlers up to a timeout, kill the rest, close its socket, and say whether all finished.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gev/runtime/event.hpp"
#include "gev/runtime/greenlet.hpp"

namespace gev::net::detail {

class ServerStop {
 public:
  // work(timeout) -> clean: the server's shutdown; it must tolerate running more than once
  // (an interrupted attempt is taken over by the next).
  using Work = std::function<bool(std::optional<Duration> timeout)>;

  explicit ServerStop(Work work) : work_(std::move(work)) {}
  ServerStop(const ServerStop&) = delete;
  ServerStop& operator=(const ServerStop&) = delete;

  // True once a stop began: the accept / receive loop takes no new work.
  bool stopping() const noexcept { return stopping_; }
  // True once a stop finished.
  bool stopped() const noexcept { return state_->done.is_set(); }

  // serve_forever()'s wait: until the server is stopped (safe if it is destroyed meanwhile).
  void wait_stopped() const;

  // stop(timeout). `from_server`: the caller is one of the server's own greenlets; then
  // `stop_intake` runs at once, the work finishes in a new greenlet named `stopper_name` and the
  // result is false.
  bool stop(std::optional<Duration> timeout, bool from_server,
            const std::function<void()>& stop_intake, const std::string& stopper_name);

  // For the server's destructor: finish (or take over) a stop in progress, or stop now with a
  // zero timeout; afterwards nobody waiting touches the server. Never throws.
  void on_destroy(const char* server_name) noexcept;

 private:
  // Outlives the server for greenlets still waiting when it is destroyed.
  struct State {
    Event done;
    bool clean = true;     // stop()'s result
    bool running = false;  // an attempt is in progress
    // Set when the running attempt ends, however it ends (one per attempt): waiting greenlets
    // then find the server stopped, or take over an attempt that was killed.
    std::shared_ptr<Event> attempt_ended;
  };

  bool run(std::optional<Duration> timeout);
  // Waits while another greenlet's attempt runs; true once the server is stopped, false if that
  // attempt ended without stopping it. Touches only `state`.
  static bool wait_for(const std::shared_ptr<State>& state);

  Work work_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::shared_ptr<Greenlet<void>> stopper_;  // finishes a stop() requested by a handler
  bool stopping_ = false;
};

}  // namespace gev::net::detail
