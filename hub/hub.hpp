// The hub: one per OS thread, created lazily by get_hub(). It owns a libev loop, runs in its own
// fiber, and decides which greenlet runs next. The thread's original stack is the "main
// greenlet", so blocking calls made from main() park main and let the hub run everything else.
//
// Thread rules: a hub and everything that belongs to it (greenlets, timeouts, ...) is used only
// from its own thread. The one exception is post(), which any thread may call to hand the hub
// work. Misuse throws InvalidThreadUseError naming both threads.
//
// Scheduling: spawned greenlets and woken greenlets go to the back of a FIFO ready queue. Each
// turn the hub runs queued callbacks, then ready greenlets until the queue is empty or the switch
// interval (1 ms by default) has passed -- so sleep(0) loops cannot starve I/O -- then polls libev
// (without blocking if anything is still ready). When nothing is ready and no referenced watcher,
// KeepAlive or pending post remains, nothing can ever wake the waiting greenlets: gev::wait()
// returns, and any other wait in the main greenlet raises gev::LoopExit.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gev/hub/errors.hpp"
#include "gev/hub/fiber.hpp"
#include "gev/hub/stack.hpp"

struct ev_loop;
struct ev_async;

namespace gev {

/// The duration type of every gev timeout and delay.
using Duration = std::chrono::nanoseconds;

/// The hub: one per OS thread, created lazily by get_hub(). It owns a libev loop, runs in its own
/// fiber, and decides which greenlet runs next. The thread's original stack is the "main
/// greenlet", so blocking calls made from main() park main and let the hub run everything else.
///
/// Thread rules: a hub and everything that belongs to it (greenlets, timeouts, ...) is used only
/// from its own thread. The one exception is post(), which any thread may call to hand the hub
/// work. Misuse throws InvalidThreadUseError naming both threads.
///
/// The members gev's own layers build on (low-level parking and fiber control, the stack pool,
/// the blocking monitor's hooks) are not listed here; docs/reference.md describes them.
class Hub {
 public:
  /// The calling thread's hub, created on first use.
  static Hub& current();
  /// The calling thread's hub if it has one, else nullptr. Never creates one.
  static Hub* current_if_exists() noexcept;

  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;
  ~Hub();

  // ---- driving the hub from code that has its own main loop -------------------------------
  /// One non-blocking turn: run what is ready, poll I/O and timers without waiting, return.
  void run_once();
  /// Let the hub run everything for `d`, then return (the caller sleeps for d).
  void run_for(Duration d);

  // ---- callbacks -----------------------------------------------------------------------------
  /// Thread-safe: run fn on this hub's thread, in the hub (fn must not block; spawn a greenlet
  /// for blocking work). A pending post does not by itself keep the loop alive; hold a KeepAlive
  /// while work is expected from other threads.
  void post(std::function<void()> fn);
  /// Same thread only: run fn in the hub on the next turn.
  void call_soon(std::function<void()> fn);
  /// Same thread only: run fn in a new bare fiber (gevent's spawn_raw): no result, no links; an
  /// exception escaping fn is reported through the error hook. Returns nothing to join.
  /// `stack_size` 0: the default stack size.
  void spawn_raw(std::function<void()> fn, std::size_t stack_size = 0);

  /// While one exists, the loop counts as busy: waits do not raise LoopExit and wait() does not
  /// return. Construct and destroy it on the hub's thread.
  class KeepAlive {
   public:
    /// Keeps `hub` busy until destroyed. Throws InvalidThreadUseError off the hub's thread.
    explicit KeepAlive(Hub& hub = Hub::current());
    KeepAlive(const KeepAlive&) = delete;
    KeepAlive& operator=(const KeepAlive&) = delete;
    ~KeepAlive();

   private:
    Hub* hub_;
  };

  // ---- waiting -------------------------------------------------------------------------------
  /// Park the current greenlet until the loop has nothing left to do (gevent.wait()).
  /// Returns false if `timeout` passed first.
  bool wait_until_idle(std::optional<Duration> timeout = std::nullopt);
  /// Give the other ready greenlets a turn (sleep(0)). A blocking point: may throw an interrupt.
  void yield();
  /// For cleanup code that must let others run but cannot throw (destructors): one turn like
  /// yield(), but a kill or Timeout arriving meanwhile stays pending and is raised at this
  /// greenlet's next blocking point. Returns false (without switching) where no switch is
  /// possible: inside the hub or on another thread.
  bool yield_deferring_interrupts() noexcept;
  /// Park until a turn in which nothing else was ready or pending (gevent.idle()).
  void idle();

  // ---- low-level parking, for gev's own primitives ------------------------------------------
  // For gev's own layers (runtime/, net/, monkey/, http/), which build every wait on them; user
  // code uses those waits instead. Public because those layers are separate libraries, but left
  // out of the API reference, as are the other members marked INTERNAL below.
  /// @cond INTERNAL
  /// Switch out the current greenlet until unpark(). `reason` (a string literal) says what it
  /// waits for. Throws the pending interrupt (kill, Timeout) when resumed by one. Throws
  /// BlockingSwitchOutError when called in the hub itself.
  void park(const char* reason);
  /// Make a parked fiber ready. A no-op for a fiber that is not parked.
  void unpark(detail::Fiber& fiber) noexcept;
  /// Throw `error` in `fiber` at its current (or next) blocking point. A kill replaces a pending
  /// timeout; a timeout never replaces a pending kill.
  void interrupt(detail::Fiber& fiber, std::exception_ptr error, bool is_kill) noexcept;
  /// Direct hand-off, for generators (runtime/generator.hpp): park the current fiber with
  /// `reason`, as park() does, and run `to` at once instead of going through a hub turn. `to`
  /// must be parked, ready (it is taken out of the ready queue) or created and never run (its
  /// first run happens here, and it counts as a live greenlet from now on, as after start(); if
  /// no stack can be had it dies without running and this returns without switching). Returns
  /// when the current fiber is resumed, by unpark() or by another switch_into(); then throws its
  /// pending interrupt, like park(). Throws BlockingSwitchOutError in the hub itself and
  /// std::logic_error when `to` is the current fiber, the hub, running or dead.
  void switch_into(detail::Fiber& to, const char* reason);
  /// created -> ready: the fiber runs on a coming turn, never synchronously.
  void start(detail::Fiber& fiber);
  /// created/ready-but-never-run -> dead, without running. Returns false if it already ran.
  bool cancel_start(detail::Fiber& fiber) noexcept;

  /// The fiber running now (a greenlet, the main greenlet, or the hub's own fiber).
  detail::Fiber& current_fiber() noexcept { return *current_; }
  /// The main greenlet: the fiber of the thread's original stack.
  detail::Fiber& main_fiber() noexcept;
  /// @endcond
  /// Whether the hub's own fiber is running (a callback), where blocking is impossible.
  bool in_hub() const noexcept;

  // ---- thread affinity -----------------------------------------------------------------------
  /// Whether the caller is on this hub's thread.
  bool in_own_thread() const noexcept { return pthread_equal(pthread_self(), owner_) != 0; }
  /// Throws InvalidThreadUseError naming `what` unless called on this hub's thread.
  void check_thread(const char* what) const;

  // ---- introspection -------------------------------------------------------------------------
  /// The hub's libev loop.
  struct ev_loop* loop() noexcept {
    return loop_;
  }
  /// The number of greenlets started and not yet dead (not main, not the hub).
  std::size_t live_greenlets() const noexcept { return live_count_; }
  /// The number of fibers in the ready queue.
  std::size_t ready_count() const noexcept { return ready_count_; }
  /// The live greenlets, comma-separated: `NAME (STATE[ in REASON])`, at most `limit` of them.
  std::string describe_fibers(std::size_t limit = 20) const;
  /// @cond INTERNAL
  // For gev's own layers (run-info, shutdown) and for tests and benchmarks (the stack pool):
  // not in the API reference.
  /// Calls fn for every live greenlet (not main, not the hub).
  void for_each_greenlet(const std::function<void(detail::Fiber&)>& fn);
  /// The hub's pool of fiber stacks.
  detail::StackPool& stacks() noexcept { return stacks_; }
  /// @endcond
  /// The number of fiber switches so far. Thread-safe (a relaxed atomic): the blocking monitor
  /// reads it from its own thread.
  std::uint64_t switch_count() const noexcept { return switches_.load(std::memory_order_relaxed); }

  /// Sets the longest stretch the hub runs ready greenlets before polling I/O (default 5 ms, as
  /// gevent's; or GEV_SWITCH_INTERVAL_US at hub creation). Shorter polls I/O sooner while many
  /// greenlets are ready, but each early poll reports the sockets of the greenlets still queued
  /// again (level-triggered epoll).
  void set_switch_interval(Duration d) noexcept { switch_interval_ = d; }
  /// The longest stretch the hub runs ready greenlets before polling I/O (default 5 ms).
  Duration switch_interval() const noexcept { return switch_interval_; }

  /// I/O batching for throughput-bound servers (libev's io_collect_interval): a blocking poll
  /// that comes less than `max_delay` after the previous one first sleeps out the rest of it, so
  /// each poll collects more events and every connection more bytes per read and write, with
  /// fewer wake-ups for the peers to pay. It adds up to max_delay of latency to each poll, which
  /// costs request/response traffic; an idle hub is not delayed. Off by default (zero or a
  /// negative `max_delay` turns it off); also GEV_IO_BATCH_US (microseconds) at hub creation.
  void set_io_batching(Duration max_delay) noexcept;
  /// The I/O batching delay; zero when off. See set_io_batching().
  Duration io_batching() const noexcept { return io_batching_; }

  /// The hub spins only while it has at most this many greenlets: with more, events come from
  /// many sources, sleeps are short anyway and the spin only burns CPU.
  static constexpr std::size_t kSpinMaxGreenlets = 64;
  /// Poll spin: a hub that runs out of work while events have been coming fast ("hot": its last
  /// sleep in the kernel was short) first polls without blocking for up to this long before it
  /// sleeps. The next event then finds it awake: no wake-up to pay (tens of microseconds on a
  /// virtual machine, charged to the sender too). A spin that finds nothing cools the hub down,
  /// and an idle hub sleeps at once. Default 50 us, or GEV_POLL_SPIN_US at hub creation; zero
  /// turns it off (lowest CPU use, higher latency for request/response traffic). No spin while
  /// I/O batching is on, or with more than kSpinMaxGreenlets greenlets.
  void set_poll_spin(Duration d) noexcept { poll_spin_ = d.count() > 0 ? d : Duration::zero(); }
  /// The poll spin duration; zero when off. See set_poll_spin().
  Duration poll_spin() const noexcept { return poll_spin_; }

  /// @cond INTERNAL
  // From here to the end of the public members: for gev's own layers (signals, the blocking
  // monitor, fork handling), not in the API reference.
  /// Counts unreferenced watchers gev itself registered (signal handlers), by `delta`; for
  /// LoopExit text.
  void note_unreferenced_watcher(int delta) noexcept { unreferenced_watchers_ += delta; }

  // ---- blocking monitor support (runtime/blocking_monitor.hpp); all thread-safe ------------
  /// Turns publishing of the running fiber's name at every switch on or off, for every hub that
  /// exists and every hub created later. Off by default; while off it costs one predictable
  /// branch per switch. Thread-safe.
  static void set_publish_running(bool on);
  /// Calls fn for every hub of the process, under a lock that keeps them from being destroyed
  /// meanwhile. fn must be quick and must not create or destroy hubs. Thread-safe.
  static void for_each_hub(const std::function<void(Hub&)>& fn);
  /// While publishing is on: writes the (NUL-terminated, possibly truncated) name of the fiber
  /// this hub switched to last into buf and returns true; returns false when the hub is in its
  /// own fiber (polling, callbacks) or publishing is off. Thread-safe.
  bool running_fiber_name(char* buf, std::size_t len) const noexcept;

  /// Called in a forked child (through pthread_atfork) for the forking thread's hub.
  void reinit_after_fork() noexcept;
  /// @endcond

 private:
  Hub();
  friend struct HubAccess;
  class MainFiber;
  class HubFiber;

  void hub_main() noexcept;
  void run_callbacks();
  void run_ready();
  int poll_for_work();
  bool has_work() const noexcept { return ready_count_ > 0 || !callbacks_.empty(); }
  void on_loop_empty();
  // Always inlined: its few callers are the hot paths (an out-of-line call cost ~8 ns a yield).
  [[gnu::always_inline]] inline void switch_to(detail::Fiber& to) noexcept;
  void after_switch_in_raw(void* prev_context, detail::Fiber* prev, detail::Fiber& self) noexcept;
  void first_run(detail::Fiber& fiber) noexcept;
  void bury(detail::Fiber& fiber) noexcept;
  [[noreturn]] static void throw_interrupt(detail::Fiber& self);
  void drain_posts();
  static void async_cb(struct ev_loop*, ev_async*, int) noexcept;
  [[noreturn]] void overflow_detected(detail::Fiber& fiber) noexcept;

  struct ev_loop* loop_ = nullptr;
  pthread_t owner_;
  detail::Fiber* current_ = nullptr;
  detail::Fiber* main_ = nullptr;
  detail::Fiber* hub_fiber_ = nullptr;
  detail::IntrusiveList ready_;
  detail::IntrusiveList registry_;
  std::size_t ready_count_ = 0;
  std::size_t live_count_ = 0;
  std::vector<std::function<void()>> callbacks_;
  std::vector<std::function<void()>> running_callbacks_;
  std::vector<detail::Fiber*> idle_waiters_;  // in idle()
  std::vector<detail::Fiber*> loop_waiters_;  // in wait_until_idle()
  detail::Fiber* run_once_waiter_ = nullptr;
  detail::StackPool stacks_;
  Duration switch_interval_ = std::chrono::milliseconds(5);
  Duration io_batching_{0};
  Duration poll_spin_{0};
  bool hot_ = false;  // the last sleep ended soon, with work: worth spinning before the next
  // Written by this hub's thread only (a relaxed load + store: a plain add, no locked
  // instruction); read by the blocking monitor from another thread.
  std::atomic<std::uint64_t> switches_{0};
  // The running fiber's name for the blocking monitor: a seqlock, written by this hub's thread
  // at each switch while publish_running_ is set, read by any thread.
  [[gnu::cold, gnu::noinline]] void publish_running(detail::Fiber& to) noexcept;
  std::atomic<bool> publish_running_{false};
  struct Pulse {
    std::atomic<std::uint32_t> seq{0};  // odd while being written
    std::atomic<bool> in_fiber{false};  // running a greenlet or main; false is stored unlocked
    static constexpr std::size_t kWords = 6;
    std::atomic<std::uint64_t> name[kWords]{};  // NUL-padded name, 47 characters at most
  } pulse_;
  int keep_alives_ = 0;
  int unreferenced_watchers_ = 0;
  bool dying_ = false;

  // Cross-thread posts.
  std::mutex post_mutex_;
  std::vector<std::function<void()>> posts_;
  std::vector<std::function<void()>> running_posts_;
  ev_async* async_ = nullptr;

  void* altstack_ = nullptr;  // sigaltstack for the stack-overflow reporter
};

/// The calling thread's hub (gevent.get_hub()), created on first use.
inline Hub& get_hub() {
  return Hub::current();
}

}  // namespace gev
