/// @file
/// Greenlets: the unit of concurrency (gevent.Greenlet).
///
/// @code
/// auto g = gev::spawn(fetch, url);     // std::shared_ptr<gev::Greenlet<R>>; starts next turn
/// g->join();                           // wait; never rethrows
/// R& v = g->get();                     // wait; value, or rethrow what the greenlet threw
/// @endcode
///
/// Subclassing, as in gevent (`_run` becomes run()):
///
/// @code
/// struct MyGreenlet : gev::Greenlet<void> {
///   void run() override { ... }
/// };
/// MyGreenlet g; g.start(); g.join();
/// @endcode
///
/// Ownership: spawn() returns a shared_ptr and the hub holds a reference while the greenlet may
/// still run, so dropping the handle never kills it. A greenlet constructed directly (on the
/// stack, as above) must finish before it is destroyed, like std::thread: destroying one that is
/// still running prints the reason and terminates.
///
/// Thread rule: a greenlet belongs to the hub of the thread that created it.
#pragma once

#include <ev.h>

#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "gev/hub/errors.hpp"
#include "gev/hub/fiber.hpp"
#include "gev/hub/hub.hpp"

namespace gev {

class GreenletBase;

/// How to create a greenlet: its name and stack size (spawn(), Greenlet's constructor).
struct SpawnOptions {
  std::string name{};          ///< default "Greenlet-N"
  std::size_t stack_size = 0;  ///< bytes; 0 = default_stack_size()
};

/// How to kill a greenlet (GreenletBase::kill(), Group::kill(), killall()).
struct KillOptions {
  std::exception_ptr exception{};     ///< thrown in the greenlet; default GreenletExit
  bool block = true;                  ///< then wait for it to finish
  std::optional<Duration> timeout{};  ///< how long to wait when blocking (none = forever)
};

/// Turns spawn-site tracking on or off.
///
/// Spawn-site tracking (off by default; GEV_TRACK_SPAWN=1 in the environment turns it on at
/// startup): while on, every greenlet records the return addresses of the code that created it,
/// and format_run_info() (runtime/run_info.hpp) prints them symbolized. While off, spawning costs
/// nothing extra.
void set_track_spawn_site(bool on) noexcept;
/// Whether spawn-site tracking is on (see set_track_spawn_site()).
bool track_spawn_site() noexcept;

/// @cond INTERNAL
namespace detail {
// Return addresses captured at a greenlet's construction (spawn-site tracking).
struct SpawnSite {
  static constexpr int kMaxFrames = 24;
  void* frames[kMaxFrames];
  int depth = 0;
};

// Told when a greenlet finishes. Lives on the waiter's stack; allocation-free joins.
struct DeathWaiter : ListNode {
  virtual void on_death(GreenletBase& g) noexcept = 0;

 protected:
  ~DeathWaiter() = default;
};
}  // namespace detail
/// @endcond

/// The untyped part of every greenlet: starting, joining, killing, links and state.
///
/// Greenlet<T> adds the typed result; spawn() returns a `std::shared_ptr<Greenlet<R>>`.
class GreenletBase : public detail::Fiber, public std::enable_shared_from_this<GreenletBase> {
 public:
  /// A link callback; it is given the finished greenlet.
  using LinkFn = std::function<void(GreenletBase&)>;

  GreenletBase(const GreenletBase&) = delete;
  GreenletBase& operator=(const GreenletBase&) = delete;
  ~GreenletBase() override;

  /// Schedule to run on a coming hub turn (never synchronously). A second call is a no-op.
  void start();
  /// Schedule to run after `delay`.
  void start_later(Duration delay);

  /// Wait until finished. True if it finished, false if `timeout` passed first. Never rethrows.
  bool join(std::optional<Duration> timeout = std::nullopt);

  /// Throw options.exception (GreenletExit by default) in the greenlet at its blocking point. A
  /// greenlet that never started never runs (its links still fire). Killing the current
  /// greenlet throws at once. Never throws otherwise; may be called many times. Returns
  /// whether the greenlet is finished on return.
  bool kill(KillOptions options = {});

  /// @name Links
  /// Callbacks run when the greenlet finishes: link* in a new greenlet, rawlink in the hub (it
  /// must not block). Added after the finish, they are scheduled at once.
  /// @{

  /// Run `fn` in a new greenlet when this one finishes.
  void link(LinkFn fn);
  /// Like link(), only if successful().
  void link_value(LinkFn fn);
  /// Like link(), only if it failed.
  void link_exception(LinkFn fn);
  /// Run `fn` in the hub when this greenlet finishes (it must not block).
  void rawlink(LinkFn fn);
  /// @}

  /// start() was called.
  bool started() const noexcept { return start_requested_; }
  /// Finished (or killed before it ran).
  bool ready() const noexcept { return finished_; }
  /// Finished (or killed before it ran); the same as ready().
  bool dead() const noexcept { return finished_; }
  /// Finished without an exception, or with GreenletExit.
  bool successful() const noexcept { return finished_ && (!exception_ || killed_); }
  /// Started, not yet finished.
  explicit operator bool() const noexcept { return start_requested_ && !finished_; }
  /// The exception that ended it (GreenletExit when killed), or null.
  std::exception_ptr exception() const noexcept { return exception_; }

  /// The name given (SpawnOptions::name, set_name()), else "Greenlet-N" (N = id()).
  std::string name() const;
  /// Renames the greenlet.
  void set_name(std::string name) { name_ = std::move(name); }
  /// A number unique among the greenlets created in this thread (from 1 up).
  std::uint64_t id() const noexcept { return id_; }
  /// The hub the greenlet belongs to (that of the thread that created it).
  Hub& hub() const noexcept { return *hub_; }

  /// The name shown in error reports and LoopExit messages: name().
  std::string fiber_name() const override { return name(); }
  /// Writes name() into buf with no allocation; returns the length written (at most `len`).
  std::size_t fiber_name_into(char* buf, std::size_t len) const noexcept override;

  /// Who created this greenlet (its parent, for run-info): the creating greenlet's id, or 0 when
  /// it was created by the main greenlet, in the hub (a callback) or in another kind of fiber.
  std::uint64_t parent_id() const noexcept { return parent_id_; }
  /// The parent's name as it was at creation: "main", "hub", a greenlet's or another fiber's.
  std::string parent_name() const;
  /// Where it was created, if spawn-site tracking was on then (else nullptr).
  const detail::SpawnSite* spawn_site() const noexcept { return spawn_site_.get(); }

 protected:
  /// A greenlet not yet started, belonging to the current thread's hub.
  explicit GreenletBase(SpawnOptions options = {});
  /// Runs the body and stores its result (Greenlet<T> implements it).
  virtual void invoke_body() = 0;
  /// Waits for the finish (optionally with a Timeout), then rethrows a stored exception.
  void wait_for_result(std::optional<Duration> timeout);

 private:
  friend class GreenletAccess;
  enum class LinkKind : std::uint8_t { any, value, exception, raw };
  enum class ParentKind : std::uint8_t { main, hub, greenlet, fiber };

  void fiber_main() noexcept override;
  void fiber_dead() noexcept override;
  void fiber_start_failed(std::exception_ptr error) noexcept override;
  void fiber_abandon() noexcept override;
  void finish() noexcept;  // notify waiters, run links, report an error
  void schedule_link(LinkKind kind, const LinkFn& fn);
  static void on_start_timer(struct ev_loop*, ev_timer* w, int) noexcept;
  void record_parent(detail::Fiber& creator) noexcept;
  void capture_spawn_site() noexcept;

  Hub* hub_;
  std::string name_;
  std::uint64_t id_;
  std::exception_ptr exception_;
  std::shared_ptr<GreenletBase> keep_alive_;  // the hub's reference while it may run
  detail::IntrusiveList death_waiters_;
  std::vector<std::pair<LinkKind, LinkFn>> links_;
  ev_timer start_timer_;
  bool start_timer_armed_ = false;
  bool start_requested_ = false;
  bool ran_ = false;
  bool finished_ = false;
  bool killed_ = false;  // ended by GreenletExit
  ParentKind parent_kind_ = ParentKind::main;
  std::uint64_t parent_id_ = 0;
  std::string parent_name_;  // a parent greenlet's custom name (empty: its default name)
  std::unique_ptr<detail::SpawnSite> spawn_site_;
};

/// @cond INTERNAL
namespace detail {
template <class T>
struct ResultSlot {
  std::optional<T> value;
};
template <>
struct ResultSlot<void> {};
}  // namespace detail
/// @endcond

/// A greenlet whose body returns a T (gevent.Greenlet): run() in a subclass, or the function
/// given to spawn().
///
/// @tparam T the body's result type (void: none).
template <class T = void>
class Greenlet : public GreenletBase {
 public:
  using value_type = T;                              ///< The body's result type.
  using reference = std::add_lvalue_reference_t<T>;  ///< What get() returns (void for T = void).

  /// A greenlet not yet started whose body is run(); call start() or start_later().
  explicit Greenlet(SpawnOptions options = {}) : GreenletBase(std::move(options)) {}

  /// Wait for the finish, then return the value or rethrow the greenlet's exception
  /// (GreenletExit if it was killed). With a timeout, throws gev::Timeout when it expires.
  reference get() { return get_impl(std::nullopt); }
  /// @copydoc get()
  reference get(Duration timeout) { return get_impl(timeout); }

  /// The value once it finished successfully; empty before, on failure, or when killed.
  template <class U = T>
  requires(!std::is_void_v<U>) const std::optional<U>& value() const noexcept {
    return slot_.value;
  }

 protected:
  /// The body. Override it in a subclass, or pass a function to spawn().
  virtual T run() {
    throw std::logic_error("gev::Greenlet::run() is not overridden and no function was given");
  }

 private:
  void invoke_body() final {
    if constexpr (std::is_void_v<T>) {
      run();
    } else {
      slot_.value.emplace(run());
    }
  }
  reference get_impl(std::optional<Duration> timeout) {
    wait_for_result(timeout);
    if constexpr (!std::is_void_v<T>) return *slot_.value;
  }

  detail::ResultSlot<T> slot_;
};

/// @cond INTERNAL
namespace detail {

// The greenlet spawn() makes: the function and its arguments, stored by value and released as
// soon as the body returns.
template <class R, class F, class... Args>
class FunctionGreenlet final : public Greenlet<R> {
 public:
  template <class F2, class... A2>
  FunctionGreenlet(SpawnOptions options, F2&& fn, A2&&... args)
      : Greenlet<R>(std::move(options)),
        call_(std::in_place, std::forward<F2>(fn), std::forward<A2>(args)...) {}

 protected:
  R run() override {
    auto call = std::move(*call_);
    call_.reset();
    return std::apply(
        [](auto&& fn, auto&&... args) -> R {
          return std::invoke(std::move(fn), std::move(args)...);
        },
        std::move(call));
  }

 private:
  std::optional<std::tuple<F, Args...>> call_;
};

template <class F, class... Args>
using spawn_result_t =
    std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;

template <class F, class... Args>
auto make_greenlet(SpawnOptions options, F&& fn, Args&&... args) {
  using R = spawn_result_t<F, Args...>;
  using G = FunctionGreenlet<R, std::decay_t<F>, std::decay_t<Args>...>;
  std::shared_ptr<Greenlet<R>> g =
      std::make_shared<G>(std::move(options), std::forward<F>(fn), std::forward<Args>(args)...);
  return g;
}

}  // namespace detail
/// @endcond

/// Create a greenlet running fn(args...) and start it on a coming turn.
///
/// The function and its arguments are stored by value and released as soon as the body returns.
/// Returns a `std::shared_ptr<Greenlet<R>>`, R being fn's result type.
template <class F, class... Args>
requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
auto spawn(F&& fn, Args&&... args) {
  auto g = detail::make_greenlet(SpawnOptions{}, std::forward<F>(fn), std::forward<Args>(args)...);
  g->start();
  return g;
}

/// spawn() with a name and/or stack size.
template <class F, class... Args>
requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
auto spawn(SpawnOptions options, F&& fn, Args&&... args) {
  auto g =
      detail::make_greenlet(std::move(options), std::forward<F>(fn), std::forward<Args>(args)...);
  g->start();
  return g;
}

/// Create a greenlet and start it after `delay`.
template <class F, class... Args>
requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
auto spawn_later(Duration delay, F&& fn, Args&&... args) {
  auto g = detail::make_greenlet(SpawnOptions{}, std::forward<F>(fn), std::forward<Args>(args)...);
  g->start_later(delay);
  return g;
}

/// spawn_later() with a name and/or stack size.
template <class F, class... Args>
requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
auto spawn_later(Duration delay, SpawnOptions options, F&& fn, Args&&... args) {
  auto g =
      detail::make_greenlet(std::move(options), std::forward<F>(fn), std::forward<Args>(args)...);
  g->start_later(delay);
  return g;
}

/// Create a greenlet running fn(args...) without starting it (gevent's Greenlet(fn, *args));
/// call start() or start_later() on it.
template <class F, class... Args>
requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
auto make_greenlet(F&& fn, Args&&... args) {
  return detail::make_greenlet(SpawnOptions{}, std::forward<F>(fn), std::forward<Args>(args)...);
}

/// The running greenlet, or nullptr in the main greenlet (or the hub).
/// Inside a generator body: the greenlet the generator runs for (as in gevent).
GreenletBase* getcurrent() noexcept;

}  // namespace gev
