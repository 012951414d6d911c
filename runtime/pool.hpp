/// @file
/// Groups and pools of greenlets (gevent.pool): Group tracks greenlets, Pool also bounds how many
/// run at once.
///
/// @code
/// gev::Pool pool{50};
/// for (auto& url : urls) pool.spawn(fetch, url);   // parks the spawner while 50 are running
/// pool.join();
/// std::vector<Page> pages = pool.map(fetch, urls); // results in input order
/// for (Page& p : pool.imap_unordered(fetch, urls)) {}  // results as they complete
/// int n = pool.apply(count_words, text);           // run in the pool, wait for the value
/// @endcode
///
/// Membership: a spawned (or added) greenlet leaves the group when it finishes. size() is the
/// number of members (len(group) in gevent); a Pool's bound is capacity() (gevent's pool.size).
///
/// Pool fairness: spawners blocked on a full pool get free slots in FIFO order, and a slot freed
/// for a spawner that is killed (or times out) meanwhile goes to the next one. A Pool never has
/// more than capacity() members.
///
/// map/imap/imap_unordered copy the input items first, then a feeder greenlet (not a member)
/// spawns one member per item, so in a Pool at most capacity() of them run at once. A failing
/// item rethrows its exception at its position when the results are read (it is also reported
/// through the error hook, as every failed greenlet is). Greenlets already running keep running if
/// the result object is dropped early; no new ones start.
///
/// Thread rule: a group belongs to the hub of the thread that created it. It must outlive the
/// map/imap iterations over it; members still running when it is destroyed keep running, untracked.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "gev/hub/hub.hpp"
#include "gev/runtime/detail/wait_list.hpp"
#include "gev/runtime/greenlet.hpp"
#include "gev/runtime/joinall.hpp"
#include "gev/runtime/lock.hpp"

namespace gev {

/// @cond INTERNAL
namespace detail {

// What map/imap produce for a function returning R (void becomes std::monostate).
template <class R>
using map_value_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

// Results of one imap/imap_unordered, shared by the feeder, the tasks' links and the reader.
template <class V>
struct MapState {
  struct Slot {
    std::optional<V> value;
    std::exception_ptr error;
    bool done = false;
  };

  MapState(std::size_t n, bool ordered_) : slots(n), ordered(ordered_) { completion.reserve(n); }

  template <class R>
  void task_done(std::size_t i, GreenletBase& g) noexcept {
    Slot& s = slots[i];
    try {
      if constexpr (std::is_void_v<R>) {
        static_cast<Greenlet<R>&>(g).get();
        s.value.emplace();
      } else {
        s.value.emplace(std::move(static_cast<Greenlet<R>&>(g).get()));
      }
    } catch (...) {
      s.error = std::current_exception();
    }
    s.done = true;
    completion.push_back(i);
    waiters.notify_all();
  }

  void feeding_ended(std::exception_ptr error) noexcept {
    feed_error = std::move(error);
    feeding_done = true;
    waiters.notify_all();
  }

  std::vector<Slot> slots;
  std::vector<std::size_t> completion;  // indices, in completion order
  std::size_t fed = 0;                  // tasks spawned so far
  std::size_t yielded = 0;              // results handed to the reader
  std::exception_ptr feed_error;        // why the feeder stopped early
  bool feeding_done = false;
  bool ordered;
  WaitList waiters;  // the reader
};

}  // namespace detail
/// @endcond

/// The results of Group::imap / imap_unordered: a single-pass range of V (the function's result
/// type; std::monostate for void). Iterating parks the reader until the next result is ready and
/// rethrows a failed item's exception at its position. Keep the object alive while iterating.
template <class V>
class IMap {
 public:
  using value_type = V;  ///< The result type (std::monostate for a void function).

  /// Made by Group::imap() and Group::imap_unordered(): the shared results and the feeder.
  IMap(std::shared_ptr<detail::MapState<V>> state, GreenletRef feeder)
      : state_(std::move(state)), feeder_(std::move(feeder)), hub_(&Hub::current()) {}
  /// Takes over the results (and the feeder) of `other`.
  IMap(IMap&& other) noexcept = default;
  IMap& operator=(IMap&&) = delete;
  IMap(const IMap&) = delete;
  IMap& operator=(const IMap&) = delete;
  /// Stops the feeder (no new items start); items already running finish on their own.
  ~IMap() {
    if (feeder_ && !feeder_->ready()) {
      try {
        feeder_->kill({.block = false});
      } catch (...) {
      }
    }
  }

  /// The next result, or nullopt at the end. Rethrows a failed item's exception.
  std::optional<V> next() {
    hub_->check_thread("gev::IMap::next");
    auto& st = *state_;
    for (;;) {
      if (ended_) return std::nullopt;
      std::size_t index = st.slots.size();
      if (st.ordered) {
        if (st.yielded < st.slots.size() && st.slots[st.yielded].done) index = st.yielded;
      } else if (st.yielded < st.completion.size()) {
        index = st.completion[st.yielded];
      }
      if (index < st.slots.size()) {
        ++st.yielded;
        auto& slot = st.slots[index];
        if (slot.error) {
          auto e = std::exchange(slot.error, nullptr);
          std::rethrow_exception(e);
        }
        std::optional<V> out = std::move(slot.value);
        slot.value.reset();
        return out;
      }
      if (st.yielded == st.slots.size() || (st.feeding_done && st.yielded >= st.fed)) {
        ended_ = true;
        if (st.feed_error && st.yielded < st.slots.size()) std::rethrow_exception(st.feed_error);
        return std::nullopt;
      }
      detail::Waiter w(st.waiters, *hub_);
      hub_->park("Pool.imap");
      w.accept();
    }
  }

  /// An input iterator over the results (compares equal to end() once they are exhausted).
  class iterator {
   public:
    using value_type = V;                    ///< The result type.
    using difference_type = std::ptrdiff_t;  ///< Required of iterators; unused.
    /// The current result.
    V& operator*() const { return *owner_->current_; }
    /// @copydoc operator*()
    V* operator->() const { return &*owner_->current_; }
    /// Moves to the next result: next(), which may park and rethrow.
    iterator& operator++() {
      owner_->current_ = owner_->next();
      return *this;
    }
    /// @copydoc operator++()
    void operator++(int) { ++*this; }
    /// True at the end.
    bool operator==(std::default_sentinel_t) const { return !owner_->current_.has_value(); }

   private:
    friend class IMap;
    explicit iterator(IMap* owner) : owner_(owner) {}
    IMap* owner_;
  };

  /// Reads the first result (next(), on the first call only).
  iterator begin() {
    if (!begun_) {
      begun_ = true;
      current_ = next();
    }
    return iterator(this);
  }
  /// The end sentinel.
  std::default_sentinel_t end() const { return {}; }

  /// Reads every remaining result into a vector.
  std::vector<V> to_vector() {
    std::vector<V> out;
    out.reserve(state_->slots.size());
    while (auto v = next()) out.push_back(std::move(*v));
    return out;
  }

 private:
  std::shared_ptr<detail::MapState<V>> state_;
  GreenletRef feeder_;
  Hub* hub_;
  std::optional<V> current_;
  bool begun_ = false;
  bool ended_ = false;
};

/// A set of greenlets (gevent.pool.Group): spawn into it, wait for all, kill all, map over items.
class Group {
 public:
  /// An empty group, belonging to the current thread's hub.
  Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  /// Members still running keep running, untracked.
  virtual ~Group();

  // ---- membership ----------------------------------------------------------------------------
  /// Adds a greenlet; it leaves when it finishes. A finished greenlet is not added. Pool: parks
  /// while the pool is full.
  void add(GreenletRef g);
  /// Removes g (it keeps running). A no-op for a non-member.
  void discard(const GreenletBase& g);
  /// Whether g is a member.
  bool contains(const GreenletBase& g) const;
  /// Whether g is a member (false for null).
  bool contains(const GreenletRef& g) const { return g && contains(*g); }
  /// Number of members (gevent's len(group)).
  std::size_t size() const noexcept { return index_.size(); }
  /// No members.
  bool empty() const noexcept { return index_.empty(); }
  /// The members, in the order they were added.
  GreenletList greenlets() const;

  // ---- spawning ------------------------------------------------------------------------------
  /// gev::spawn(fn, args...) as a member. Pool: parks the caller while the pool is full.
  template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  auto spawn(F&& fn, Args&&... args) {
    return spawn(SpawnOptions{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  /// spawn() with a name and/or stack size.
  template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  auto spawn(SpawnOptions options, F&& fn, Args&&... args) {
    hub_->check_thread("gev::Group::spawn");
    acquire_slot();
    SlotGuard slot{this};
    auto g =
        detail::make_greenlet(std::move(options), std::forward<F>(fn), std::forward<Args>(args)...);
    insert(g);  // takes over the slot
    slot.owner = nullptr;
    g->start();
    return g;
  }

  /// Runs fn(args...) in a new member and returns its value (rethrows its exception). Called
  /// from a member of this group, runs fn inline instead (a full pool cannot deadlock).
  template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  decltype(auto) apply(F&& fn, Args&&... args) {
    hub_->check_thread("gev::Group::apply");
    using R = detail::spawn_result_t<F, Args...>;
    if (current_is_member()) {
      return static_cast<R>(std::invoke(std::forward<F>(fn), std::forward<Args>(args)...));
    }
    auto g = spawn(std::forward<F>(fn), std::forward<Args>(args)...);
    if constexpr (std::is_void_v<R>) {
      g->get();
    } else {
      return R(std::move(g->get()));
    }
  }
  /// spawn() under gevent's name: the greenlet is the async result.
  template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  auto apply_async(F&& fn, Args&&... args) {
    return spawn(std::forward<F>(fn), std::forward<Args>(args)...);
  }

  /// fn(item) for every item, results in input order. Rethrows the first failure (in input
  /// order). Called from a member of this group, runs inline.
  template <class F, std::ranges::input_range Range>
  auto map(F fn, Range&& items) {
    using Item = std::ranges::range_value_t<Range>;
    using R = detail::spawn_result_t<F&, Item>;
    using V = detail::map_value_t<R>;
    hub_->check_thread("gev::Group::map");
    if (current_is_member()) {
      std::vector<V> out;
      for (auto&& item : items) {
        if constexpr (std::is_void_v<R>) {
          std::invoke(fn, item);
          out.emplace_back();
        } else {
          out.push_back(std::invoke(fn, item));
        }
      }
      return out;
    }
    return imap(std::move(fn), std::forward<Range>(items)).to_vector();
  }
  /// fn(item) for every item, yielded in input order as they become available (an IMap).
  template <class F, std::ranges::input_range Range>
  auto imap(F fn, Range&& items) {
    return start_map(std::move(fn), std::forward<Range>(items), true);
  }
  /// fn(item) for every item, yielded in completion order (an IMap).
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F fn, Range&& items) {
    return start_map(std::move(fn), std::forward<Range>(items), false);
  }

  // ---- waiting and killing -------------------------------------------------------------------
  /// Waits until the group is empty (members added meanwhile are waited for too). Returns true
  /// if it is empty, false if `timeout` passed first. With raise_error, then rethrows the
  /// exception of the first (in order added) greenlet, among the members at the call, that
  /// failed (GreenletExit is not a failure).
  bool join(std::optional<Duration> timeout = std::nullopt, bool raise_error = false);
  /// Kills every member except the calling greenlet (and members added while killing) and, with
  /// options.block, waits up to options.timeout for them to finish. Returns whether all did.
  bool kill(KillOptions options = {});
  /// Kills one member (gevent's killone). A no-op returning true for a non-member.
  bool killone(const GreenletRef& g, KillOptions options = {});

 protected:
  /// Pool's hook: a slot is taken before a member is inserted (a Group has no limit).
  virtual void acquire_slot() {}
  /// Pool's hook: the slot is freed when the member leaves.
  virtual void release_slot() noexcept {}

  /// The hub the group belongs to.
  Hub& hub() const noexcept { return *hub_; }

 private:
  struct Member;
  struct DeathNode final : detail::DeathWaiter {
    Group* owner = nullptr;
    void on_death(GreenletBase& g) noexcept override;
    ~DeathNode();
  };
  struct Member {
    GreenletRef greenlet;
    DeathNode node;
  };
  struct SlotGuard {
    Group* owner;
    ~SlotGuard() {
      if (owner) owner->release_slot();
    }
  };

  void insert(GreenletRef g);  // a slot is held for it; consumes it
  void remove(const GreenletBase& g) noexcept;
  bool current_is_member() const;

  template <class F, class Range>
  auto start_map(F fn, Range&& items, bool ordered) {
    using Item = std::ranges::range_value_t<Range>;
    using R = detail::spawn_result_t<F&, Item>;
    using V = detail::map_value_t<R>;
    hub_->check_thread(ordered ? "gev::Group::imap" : "gev::Group::imap_unordered");
    std::vector<Item> copied;
    if constexpr (std::ranges::sized_range<Range>) copied.reserve(std::ranges::size(items));
    for (auto&& item : items) copied.emplace_back(std::forward<decltype(item)>(item));
    auto state = std::make_shared<detail::MapState<V>>(copied.size(), ordered);
    GreenletRef feeder = gev::spawn(
        SpawnOptions{.name = ordered ? "Group.imap feeder" : "Group.imap_unordered feeder"},
        [this, state, fn = std::move(fn), items = std::move(copied)]() mutable {
          try {
            for (std::size_t i = 0; i < items.size(); ++i) {
              auto g = spawn(fn, std::move(items[i]));
              ++state->fed;
              g->rawlink([state, i](GreenletBase& done) { state->template task_done<R>(i, done); });
            }
            state->feeding_ended(nullptr);
          } catch (const GreenletExit&) {
            state->feeding_ended(std::current_exception());
            throw;
          } catch (...) {
            state->feeding_ended(std::current_exception());
          }
        });
    return IMap<V>(std::move(state), std::move(feeder));
  }

  Hub* hub_;
  std::list<Member> members_;
  std::unordered_map<const GreenletBase*, std::list<Member>::iterator> index_;
  detail::WaitList empty_waiters_;  // in join()
};

/// A Group with at most capacity() members at once (gevent.pool.Pool). spawn() and add() park
/// the caller while the pool is full; blocked spawners are served FIFO.
class Pool : public Group {
 public:
  /// capacity >= 1; 0 throws std::invalid_argument.
  explicit Pool(std::size_t capacity);

  /// The most members at once (gevent's pool.size).
  std::size_t capacity() const noexcept { return capacity_; }
  /// Slots free now (0 while spawners wait).
  std::size_t free_count() const noexcept { return slots_.counter(); }
  /// True if a spawn() would park: no free slot, or spawners already waiting.
  bool full() const noexcept { return slots_.locked(); }
  /// Waits until a slot is free, without taking it. False if `timeout` passed first.
  bool wait_available(std::optional<Duration> timeout = std::nullopt);

 protected:
  /// Takes a slot, parking (FIFO) while the pool is full.
  void acquire_slot() override;
  /// Frees a slot, handing it to the first waiting spawner if there is one.
  void release_slot() noexcept override;

 private:
  std::size_t capacity_;
  Semaphore slots_;
};

}  // namespace gev
