// A hub on a dedicated OS thread, for programs that already have threads: other threads hand it
// work with post() (runs in the hub, must not block) or submit() (runs in a new greenlet there,
// may block cooperatively) and wait for the result on an ordinary std::future, without being
// greenlets themselves.
//
//   gev::HubThread io;
//   std::future<int> answer = io.submit([] { gev::sleep(10ms); return 42; });
//   answer.get();   // blocks this (non-hub) thread only
//
// Do not block on such a future from inside a greenlet of another hub: that stalls its thread.
// A HubThread does not survive fork(): in the child, post()/submit() throw std::logic_error and
// the destructor does nothing. hub() is valid until stop().
#pragma once

#include <unistd.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>

#include "gev/hub/hub.hpp"

namespace gev {

/// A hub on a dedicated OS thread, for programs that already have threads: other threads hand it
/// work with post() (runs in the hub, must not block) or submit() (runs in a new greenlet there,
/// may block cooperatively) and wait for the result on an ordinary std::future, without being
/// greenlets themselves.
///
/// @code
///   gev::HubThread io;
///   std::future<int> answer = io.submit([] { gev::sleep(10ms); return 42; });
///   answer.get();   // blocks this (non-hub) thread only
/// @endcode
///
/// Do not block on such a future from inside a greenlet of another hub: that stalls its thread.
/// A HubThread does not survive fork(): in the child, post()/submit() throw std::logic_error and
/// the destructor does nothing.
class HubThread {
 public:
  /// Starts the thread and its hub; returns once the hub exists. `name` also names the OS
  /// thread (truncated to 15 characters).
  explicit HubThread(std::string name = "gev-hub");
  HubThread(const HubThread&) = delete;
  HubThread& operator=(const HubThread&) = delete;
  /// stop(): kills the greenlets still running there (GreenletExit) and joins the thread.
  ~HubThread();

  /// Runs fn on the hub thread, in the hub (it must not block). Thread-safe.
  void post(std::function<void()> fn);

  /// Runs fn in a new greenlet on the hub thread. The future holds fn's result or exception
  /// (GreenletExit if the HubThread stopped first; std::future_error if it never ran).
  template <class F>
  auto submit(F&& fn) -> std::future<std::invoke_result_t<std::decay_t<F>&>> {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    auto task = std::make_shared<std::decay_t<F>>(std::forward<F>(fn));
    post_greenlet([promise, task] {
      try {
        if constexpr (std::is_void_v<R>) {
          (*task)();
          promise->set_value();
        } else {
          promise->set_value((*task)());
        }
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    });
    return future;
  }

  /// Stops the hub thread; idempotent. Work posted afterwards is dropped.
  void stop();

  /// The thread's hub; valid until stop().
  Hub& hub() const noexcept { return *hub_; }
  /// The name given at construction.
  const std::string& name() const noexcept { return name_; }

 private:
  void post_greenlet(std::function<void()> fn);
  void thread_main(std::promise<Hub*>& started);

  std::string name_;
  Hub* hub_ = nullptr;
  std::thread* thread_ = nullptr;  // leaked on purpose in a forked child (the thread is gone)
  pid_t creator_pid_;
  std::mutex lifetime_mutex_;    // post() vs stop(): no post reaches a destroyed hub
  std::mutex join_mutex_;        // concurrent stop() calls join once
  bool stopping_ = false;        // guarded by lifetime_mutex_
  bool stop_requested_ = false;  // touched on the hub thread only
};

}  // namespace gev
