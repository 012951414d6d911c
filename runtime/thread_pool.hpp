// ThreadPool: run blocking functions on OS threads while the calling greenlet waits
// cooperatively (gevent.threadpool.ThreadPool).
//
//   gev::ThreadPool pool{4};
//   auto r = pool.spawn(compress, data);     // gev::ThreadResult<R>; fn runs on a pool thread
//   ...                                      // other greenlets run meanwhile
//   R& v = r.get();                          // parks this greenlet (not the thread) until done
//   R v2 = pool.apply(compress, other);      // spawn(...).get()
//
// fn and its arguments are copied (decayed, like std::thread) and run on one of the pool's
// threads; the result or exception comes back through the caller's hub (Hub::post) and wakes the
// greenlets waiting in get(). fn runs on a plain OS thread: it must not touch the caller's
// greenlets or hub objects (it may use gev on its own, e.g. a HubThread's post()).
//
// While a task is in flight the caller's hub holds a KeepAlive, so a greenlet waiting for it
// never gets LoopExit and gev::wait() waits for it. Killing or timing out a waiting greenlet is
// safe: the task still finishes and its result is kept in the ThreadResult (or dropped with it).
//
// Threads start lazily (one per queued task, up to size()). Lifetime: shutdown() stops accepting
// tasks, runs the ones already queued, and joins the threads; kill() stops accepting, cancels the
// queued tasks (their results fail with ThreadPoolClosed), lets the running ones finish and joins
// the threads; the destructor calls kill(). Both block the calling OS thread until the running
// tasks return (call join() first to wait cooperatively). A pool may be used from several hub
// threads; each result goes back to the hub of the thread that spawned the task.
//
// ThreadResult<T> is ThreadPool's own small result handle (not gev::AsyncResult).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "gev/hub/hub.hpp"
#include "gev/runtime/detail/wait_list.hpp"

namespace gev {

/// The result of a task that was cancelled because its pool was killed before it started; also
/// thrown by ThreadPool::spawn() after shutdown()/kill().
class ThreadPoolClosed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ThreadPool;

/// @cond INTERNAL
namespace detail {

// The per-thread link from pool threads back to a hub: results are posted through it, and it
// holds the hub's KeepAlive while tasks are in flight. Cleared when the hub's thread exits, so a
// late result is dropped instead of being posted to a destroyed hub.
class HubLink {
 public:
  // The calling thread's link (created on first use).
  static std::shared_ptr<HubLink> current();

  // Hub thread: a task was submitted / completed (keeps the hub's loop alive in between).
  void task_started();
  void task_finished() noexcept;
  // Any thread: runs fn on the hub's thread, or drops it if the hub is gone.
  void deliver(std::function<void()> fn);
  // The hub results go to (valid while its thread runs: only used there).
  Hub& hub() const noexcept { return *home_; }

  explicit HubLink(Hub& hub) : home_(&hub), hub_(&hub) {}
  void detach() noexcept;  // the hub's thread is exiting

 private:
  Hub* const home_;
  std::mutex mutex_;
  Hub* hub_;  // guarded by mutex_ (null once detached)
  // Hub thread only:
  std::size_t in_flight_ = 0;
  std::optional<Hub::KeepAlive> keep_alive_;
};

// What a task and its ThreadResult share. The worker writes value/error, then posts; only the
// hub thread reads them, after the post (the post's mutex orders the two).
class ThreadTaskStateBase {
 public:
  explicit ThreadTaskStateBase(std::shared_ptr<HubLink> link) : link_(std::move(link)) {}
  ThreadTaskStateBase(const ThreadTaskStateBase&) = delete;
  ThreadTaskStateBase& operator=(const ThreadTaskStateBase&) = delete;
  virtual ~ThreadTaskStateBase() = default;

  // Hub thread.
  bool ready() const noexcept { return done_; }
  bool successful() const noexcept { return done_ && !error_; }
  std::exception_ptr exception() const noexcept { return done_ ? error_ : nullptr; }
  // Parks until done; false if `timeout` passed first.
  bool wait(std::optional<Duration> timeout);
  // Parks until done (throwing gev::Timeout after `timeout`), then rethrows a stored exception.
  void wait_for_result(std::optional<Duration> timeout);

  // Worker thread: fn's outcome is stored; hand it to the hub.
  void deliver(const std::shared_ptr<ThreadTaskStateBase>& self);
  void set_error(std::exception_ptr e) noexcept { error_ = std::move(e); }

 private:
  void complete() noexcept;  // hub thread, from the post

  std::shared_ptr<HubLink> link_;
  std::exception_ptr error_;
  bool done_ = false;
  WaitList waiters_;
};

template <class T>
class ThreadTaskState final : public ThreadTaskStateBase {
 public:
  using ThreadTaskStateBase::ThreadTaskStateBase;
  std::optional<T> value;
};
template <>
class ThreadTaskState<void> final : public ThreadTaskStateBase {
 public:
  using ThreadTaskStateBase::ThreadTaskStateBase;
};

// A queued task, type-erased.
struct ThreadJob {
  virtual ~ThreadJob() = default;
  virtual void run() noexcept = 0;                           // worker thread
  virtual void cancel(std::exception_ptr why) noexcept = 0;  // never ran
};

}  // namespace detail
/// @endcond

/// The handle ThreadPool::spawn returns (ThreadPool's own small result handle, not
/// gev::AsyncResult). Copyable; copies share the result. Used on the hub thread that spawned the
/// task.
template <class T>
class ThreadResult {
 public:
  /// The task's result type.
  using value_type = T;
  /// What get() returns (void for a void task).
  using reference = std::add_lvalue_reference_t<T>;

  /// An empty handle: not valid().
  ThreadResult() = default;

  /// Parks the calling greenlet until the task finished, then returns its value (a reference
  /// into the shared result) or rethrows its exception. With a timeout, throws gev::Timeout when
  /// it passes first (the task keeps running; call get() again later).
  reference get() { return get_impl(std::nullopt); }
  /// @copydoc get()
  reference get(Duration timeout) { return get_impl(timeout); }
  /// Parks until finished; false if `timeout` passed first. Never rethrows.
  bool wait(std::optional<Duration> timeout = std::nullopt) { return checked().wait(timeout); }

  /// Whether the handle refers to a task. A default-constructed handle is not valid(): the state
  /// queries say "not ready", and get() and wait() throw std::logic_error.
  bool valid() const noexcept { return state_ != nullptr; }
  /// Whether the task finished (with a value or an exception).
  bool ready() const noexcept { return state_ && state_->ready(); }
  /// Whether the task finished without an exception.
  bool successful() const noexcept { return state_ && state_->successful(); }
  /// The task's exception once it finished with one, else null.
  std::exception_ptr exception() const noexcept { return state_ ? state_->exception() : nullptr; }

 private:
  friend class ThreadPool;
  explicit ThreadResult(std::shared_ptr<detail::ThreadTaskState<T>> s) : state_(std::move(s)) {}

  detail::ThreadTaskState<T>& checked() const {
    if (!state_) throw std::logic_error("gev::ThreadResult: no task (default-constructed handle)");
    return *state_;
  }
  reference get_impl(std::optional<Duration> timeout) {
    checked().wait_for_result(timeout);
    if constexpr (!std::is_void_v<T>) return *state_->value;
  }

  std::shared_ptr<detail::ThreadTaskState<T>> state_;
};

/// Runs blocking functions on OS threads while the calling greenlet waits cooperatively
/// (gevent.threadpool.ThreadPool).
///
/// @code
///   gev::ThreadPool pool{4};
///   auto r = pool.spawn(compress, data);     // gev::ThreadResult<R>; fn runs on a pool thread
///   ...                                      // other greenlets run meanwhile
///   R& v = r.get();                          // parks this greenlet (not the thread) until done
///   R v2 = pool.apply(compress, other);      // spawn(...).get()
/// @endcode
///
/// fn and its arguments are copied (decayed, like std::thread) and run on one of the pool's
/// threads; the result or exception comes back through the caller's hub (Hub::post) and wakes
/// the greenlets waiting in get(). fn must not touch the caller's greenlets or hub objects.
/// While a task is in flight the caller's hub holds a KeepAlive. Threads start lazily (one per
/// queued task, up to size()). A pool may be used from several hub threads; each result goes
/// back to the hub of the thread that spawned the task.
class ThreadPool {
 public:
  /// A pool of at most `size` threads (at least 1); none is started yet.
  explicit ThreadPool(std::size_t size = 10);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  /// kill(): cancels queued tasks, waits for the running ones (blocking this thread), joins.
  ~ThreadPool();

  /// Queues fn(args...) for a pool thread. Throws ThreadPoolClosed after shutdown()/kill().
  template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  auto spawn(F&& fn, Args&&... args) {
    using R = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;
    auto state = std::make_shared<detail::ThreadTaskState<R>>(prepare_submit());
    submit(std::make_unique<Job<R, std::decay_t<F>, std::decay_t<Args>...>>(
        state, std::forward<F>(fn), std::forward<Args>(args)...));
    return ThreadResult<R>(std::move(state));
  }

  /// spawn(fn, args...).get(): the value (moved out), or the task's exception.
  template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  auto apply(F&& fn, Args&&... args) {
    auto r = spawn(std::forward<F>(fn), std::forward<Args>(args)...);
    using R = typename decltype(r)::value_type;
    if constexpr (std::is_void_v<R>) {
      r.get();
    } else {
      return R(std::move(r.get()));
    }
  }

  /// Parks the calling greenlet until no task is queued or running. False if `timeout` passed.
  bool join(std::optional<Duration> timeout = std::nullopt);

  /// Stop accepting; run what is queued; join the threads. Idempotent. Blocks this OS thread.
  void shutdown();
  /// Stop accepting; cancel what is queued (ThreadPoolClosed); let running tasks finish; join.
  /// Blocks this OS thread.
  void kill();

  /// The maximum number of threads.
  std::size_t size() const;
  /// Sets the maximum number of threads (at least 1). Takes effect as tasks are taken: extra
  /// threads end when they next go idle; new ones start as tasks are queued.
  void resize(std::size_t size);
  /// Threads currently started (and not retired).
  std::size_t thread_count() const;
  /// Tasks queued but not started.
  std::size_t queued() const;
  /// Tasks running.
  std::size_t running() const;
  /// Whether shutdown() or kill() was called.
  bool closed() const;

 private:
  template <class R, class F, class... Args>
  class Job final : public detail::ThreadJob {
   public:
    template <class F2, class... A2>
    Job(std::shared_ptr<detail::ThreadTaskState<R>> state, F2&& fn, A2&&... args)
        : state_(std::move(state)), call_(std::forward<F2>(fn), std::forward<A2>(args)...) {}

    void run() noexcept override {
      try {
        if constexpr (std::is_void_v<R>) {
          std::apply([](auto& fn, auto&... a) { std::invoke(std::move(fn), std::move(a)...); },
                     call_);
        } else {
          state_->value.emplace(std::apply(
              [](auto& fn, auto&... a) -> R { return std::invoke(std::move(fn), std::move(a)...); },
              call_));
        }
      } catch (...) {
        state_->set_error(std::current_exception());
      }
      finish();
    }
    void cancel(std::exception_ptr why) noexcept override {
      state_->set_error(std::move(why));
      finish();
    }

   private:
    void finish() noexcept {
      try {
        state_->deliver(state_);
      } catch (...) {  // out of memory posting the result: the waiter cannot be told
        std::terminate();
      }
    }
    std::shared_ptr<detail::ThreadTaskState<R>> state_;
    std::tuple<F, Args...> call_;
  };

  struct JoinWaiter;

  // Hub thread: checks the pool is open and counts a task in flight for the caller's hub.
  std::shared_ptr<detail::HubLink> prepare_submit();
  void submit(std::unique_ptr<detail::ThreadJob> job);
  void worker_main();
  void stop(bool cancel_queued);
  void notify_idle_locked();

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::deque<std::unique_ptr<detail::ThreadJob>> queue_;
  std::vector<std::thread> threads_;  // started ones, joined at stop (retired ones too)
  std::vector<std::shared_ptr<JoinWaiter>> join_waiters_;
  std::size_t max_threads_;
  std::size_t live_threads_ = 0;  // started and not retired
  std::size_t idle_threads_ = 0;  // waiting for work
  std::size_t running_ = 0;
  bool closed_ = false;
  std::mutex stop_mutex_;  // concurrent stop() calls join once
};

}  // namespace gev
