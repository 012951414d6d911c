/// @file
/// Queues between greenlets (gevent.queue): `Queue<T>`, `LifoQueue<T>`, `PriorityQueue<T>`,
/// `JoinableQueue<T>`; the rendezvous `Channel<T>` is in channel.hpp.
///
/// @code
///   gev::Queue<std::string> q;          // unbounded;  gev::Queue<int> q{10}: at most 10 items
///   q.put("job");                       // parks while the queue is full
///   std::string s = q.get();            // parks while it is empty
///   q.get(1s);                          // throws gev::Empty if nothing arrived within 1 s
///   q.put_nowait(x); q.get_nowait();    // throw gev::Full / gev::Empty instead of parking
///   q.peek();                           // the next item, left in the queue
///   q.close();                          // no more puts; getters drain what is left, then
///   for (auto& item : q) { ... }        //   get() throws gev::QueueClosed and loops end
/// @endcode
///
/// Semantics (gevent's, with the hand-off rule of detail/wait_list.hpp):
///   * Queue(0) and Queue() are unbounded (gevent >= 1.1); Queue(n) holds at most n items.
///   * Waiting getters and waiting putters are each served in FIFO order.
///   * A put that finds a parked getter hands the item straight to it: nobody calling get()
///     before the woken getter runs can take it (no barging). If the woken getter is killed or
///     times out before it ran, the item goes back to the head of the queue (or to the next
///     waiting getter): no item is ever lost.
///   * A parked putter's item enters the queue at the moment space frees up (the put is then
///     complete, even if the putter is killed before it runs again). A putter killed or timed
///     out while still waiting never put its item.
///   * After close(), put() throws QueueClosed (so do puts parked at the time of close); get()
///     returns the remaining items, then throws QueueClosed; iteration ends.
///   * Once the buffer has grown, put/get allocate nothing.
///
/// Thread rule: a queue belongs to the hub of the thread that created it.
/// Destroy a queue only when no greenlet waits on it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gev/hub/hub.hpp"
#include "gev/hub/park_timer.hpp"
#include "gev/runtime/detail/wait_list.hpp"

namespace gev {

/// put_nowait() on a full queue, or put() whose timeout passed (gevent.queue.Full).
class Full : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// get_nowait() on an empty queue, or get()/peek() whose timeout passed (gevent.queue.Empty).
class Empty : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// get() on a closed and drained queue, or put() on a closed queue. Ends iteration.
class QueueClosed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
/// @cond INTERNAL

// A growable ring buffer that keeps its capacity (no allocation once grown).
template <class T>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    clear();
    if (data_) std::allocator<T>().deallocate(data_, cap_);
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  T& front() noexcept { return data_[head_]; }
  const T& front() const noexcept { return data_[head_]; }

  void push_back(T&& v) {
    if (size_ == cap_) grow();
    ::new (static_cast<void*>(data_ + ((head_ + size_) & (cap_ - 1)))) T(std::move(v));
    ++size_;
  }
  void push_front(T&& v) {
    if (size_ == cap_) grow();
    const std::size_t h = (head_ + cap_ - 1) & (cap_ - 1);
    ::new (static_cast<void*>(data_ + h)) T(std::move(v));
    head_ = h;
    ++size_;
  }
  T pop_front() {
    T* p = data_ + head_;
    T v(std::move(*p));
    p->~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
    return v;
  }
  void clear() noexcept {
    while (size_ > 0) {
      data_[head_].~T();
      head_ = (head_ + 1) & (cap_ - 1);
      --size_;
    }
    head_ = 0;
  }

 private:
  void grow() {
    const std::size_t cap = cap_ == 0 ? 8 : cap_ * 2;
    T* data = std::allocator<T>().allocate(cap);
    for (std::size_t i = 0; i < size_; ++i) {
      T* src = data_ + ((head_ + i) & (cap_ - 1));
      ::new (static_cast<void*>(data + i)) T(std::move(*src));
      src->~T();
    }
    if (data_) std::allocator<T>().deallocate(data_, cap_);
    data_ = data;
    cap_ = cap;
    head_ = 0;
  }

  T* data_ = nullptr;
  std::size_t cap_ = 0;  // 0 or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// Storage policies: push (new item), pop (next item out), top (next item, left in place),
// unget (return an item that was popped to where it came from: the head).
template <class T>
struct FifoStore {
  Ring<T> items;
  bool empty() const noexcept { return items.empty(); }
  std::size_t size() const noexcept { return items.size(); }
  void push(T&& v) { items.push_back(std::move(v)); }
  T pop() { return items.pop_front(); }
  const T& top() const noexcept { return items.front(); }
  void unget(T&& v) { items.push_front(std::move(v)); }
};

template <class T>
struct LifoStore {
  std::vector<T> items;
  bool empty() const noexcept { return items.empty(); }
  std::size_t size() const noexcept { return items.size(); }
  void push(T&& v) { items.push_back(std::move(v)); }
  T pop() {
    T v(std::move(items.back()));
    items.pop_back();
    return v;
  }
  const T& top() const noexcept { return items.back(); }
  void unget(T&& v) { items.push_back(std::move(v)); }
};

// A binary heap whose top is the smallest item by Compare (Python's heapq order).
template <class T, class Compare>
struct PriorityStore {
  struct Greater {
    Compare less;
    bool operator()(const T& a, const T& b) const { return less(b, a); }
  };
  std::vector<T> items;
  Greater greater{};
  bool empty() const noexcept { return items.empty(); }
  std::size_t size() const noexcept { return items.size(); }
  void push(T&& v) {
    items.push_back(std::move(v));
    std::push_heap(items.begin(), items.end(), greater);
  }
  T pop() {
    std::pop_heap(items.begin(), items.end(), greater);
    T v(std::move(items.back()));
    items.pop_back();
    return v;
  }
  const T& top() const noexcept { return items.front(); }
  void unget(T&& v) { push(std::move(v)); }
};

inline void ignore_abandon(WaitList&, Waiter&) noexcept {}
/// @endcond

// The machinery shared by every queue type and Channel (rendezvous = a capacity of zero: the
// store then only ever holds items given back by getters that died before taking them). Its
// public members are part of the API of Queue, LifoQueue, PriorityQueue and JoinableQueue: the
// API reference shows them on their pages (channel.hpp declares those Channel re-exports again
// for Doxygen).
/// The operations shared by every queue type and Channel: a base class of Queue, LifoQueue,
/// PriorityQueue and JoinableQueue, whose pages list these members too; use those.
template <class T, class Store>
class BasicQueue {
 public:
  using value_type = T;  ///< The item type.

  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  // ---- put -----------------------------------------------------------------------------------
  /// Puts `item`, parking while the queue is full. A parked getter is handed the item directly.
  /// Throws Full if `timeout` passed first (the item was not put), QueueClosed after close()
  /// (also when the queue is closed while the put is parked). A blocking point.
  void put(T item, std::optional<Duration> timeout = std::nullopt) {
    put_impl(item, true, timeout);
  }
  /// gevent's put(item, block, timeout): with `block` false it never parks and throws Full at
  /// once when the queue is full.
  void put(T item, bool block, std::optional<Duration> timeout = std::nullopt) {
    put_impl(item, block, timeout);
  }
  /// put(item, false): puts, or throws Full at once.
  void put_nowait(T item) { put_impl(item, false, std::nullopt); }

  // ---- get -----------------------------------------------------------------------------------
  /// Takes the next item (moved out), parking while the queue is empty. Throws Empty if
  /// `timeout` passed first, QueueClosed once the queue is closed and drained. A blocking point.
  T get(std::optional<Duration> timeout = std::nullopt) { return get_impl(true, timeout); }
  /// gevent's get(block, timeout): with `block` false it never parks and throws Empty at once
  /// when there is no item (QueueClosed if the queue is closed and drained).
  T get(bool block, std::optional<Duration> timeout = std::nullopt) {
    return get_impl(block, timeout);
  }
  /// get(false): takes an item, or throws Empty at once.
  T get_nowait() { return get_impl(false, std::nullopt); }

  // ---- state ---------------------------------------------------------------------------------
  /// The number of items in the queue.
  std::size_t qsize() const noexcept { return store_.size(); }
  /// True when the queue holds no item.
  bool empty() const noexcept { return store_.empty(); }
  /// True once close() was called.
  bool closed() const noexcept { return closed_; }
  /// Greenlets parked in get() right now.
  std::size_t waiting_getters() const noexcept { return getters_.size(); }
  /// Greenlets parked in put() right now.
  std::size_t waiting_putters() const noexcept { return putters_.size(); }

  /// No more puts: wakes parked putters (their put throws QueueClosed) and, once the queue is
  /// drained, every getter (QueueClosed). Idempotent.
  void close() {
    check("gev::Queue::close");
    if (closed_) return;
    closed_ = true;
    putters_.notify_all();                      // not `taken`: their put throws
    if (store_.empty()) getters_.notify_all();  // no item: their get throws
    peekers_.notify_all();
  }

  // ---- iteration: items until the queue is closed and drained ---------------------------------
  /// A single-pass input iterator: each step is a get() (it may park); it reaches end() when
  /// get() would throw QueueClosed. Other exceptions (a kill, a Timeout) propagate.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;  ///< Single pass.
    using value_type = T;                               ///< The item type.
    using difference_type = std::ptrdiff_t;             ///< For std::input_iterator.
    using pointer = T*;                                 ///< For std::input_iterator.
    using reference = T&;                               ///< For std::input_iterator.

    /// A past-the-end iterator.
    iterator() = default;
    /// Takes the first item of `q` (a get()).
    explicit iterator(BasicQueue* q) : q_(q) { advance(); }
    /// The current item.
    T& operator*() noexcept { return *item_; }
    /// The current item.
    T* operator->() noexcept { return &*item_; }
    /// Takes the next item (a get()).
    iterator& operator++() {
      advance();
      return *this;
    }
    /// Takes the next item (a get()).
    void operator++(int) { advance(); }
    /// True once the queue was closed and drained.
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return !it.item_.has_value();
    }

   private:
    void advance() {
      item_.reset();
      try {
        item_.emplace(q_->get());
      } catch (const QueueClosed&) {
      }
    }
    BasicQueue* q_ = nullptr;
    std::optional<T> item_;
  };
  /// Takes the first item (may park): begin() is a get(). For range-for over the items until
  /// the queue is closed and drained.
  iterator begin() { return iterator(this); }
  /// The end of the items: reached once the queue is closed and drained.
  std::default_sentinel_t end() const noexcept { return {}; }

  /// @cond INTERNAL
 protected:
  enum class Kind { queue, channel };

  BasicQueue(std::size_t maxsize, Kind kind)
      : hub_(&Hub::current()), maxsize_(maxsize), kind_(kind) {}

  ~BasicQueue() {
    if (!getters_.empty() || !putters_.empty() || !peekers_.empty() || !joiners_.empty()) {
      std::fprintf(stderr,
                   "gev: %s destroyed while greenlets are parked on it (%zu getters, %zu "
                   "putters); keep it alive until they are done\n",
                   type_name(), getters_.size(), putters_.size());
      std::terminate();
    }
  }

  struct GetWaiter final : Waiter {
    GetWaiter(WaitList& list, Hub& hub, BasicQueue* q) noexcept : Waiter(list, hub), owner(q) {}
    // Killed or timed out after an item was handed over: give it back.
    ~GetWaiter() override {
      if (item) owner->give_back(std::move(*item));
      accept();
    }
    BasicQueue* owner;
    std::optional<T> item;
  };

  struct PutWaiter final : Waiter {
    PutWaiter(WaitList& list, Hub& hub, T* it) noexcept : Waiter(list, hub), item(it) {}
    T* item;             // the parked put()'s argument
    bool taken = false;  // notified because the queue took the item (else: closed)
  };

  bool rendezvous() const noexcept { return kind_ == Kind::channel; }
  bool is_full() const noexcept {
    return rendezvous() || (maxsize_ != 0 && store_.size() >= maxsize_);
  }
  const char* type_name() const noexcept { return rendezvous() ? "gev::Channel" : "gev::Queue"; }

  void check(const char* what) const {
    if (!hub_->in_own_thread()) hub_->check_thread(what);
  }

  // Counted whenever the queue accepts an item (JoinableQueue's unfinished tasks).
  void accepted() noexcept { ++unfinished_; }

  // Parked putters' items enter while there is room.
  void admit_putters() {
    bool any = false;
    while (!putters_.empty() && !is_full()) {
      auto* p = static_cast<PutWaiter*>(putters_.front());
      store_.push(std::move(*p->item));
      p->taken = true;
      accepted();
      putters_.notify_one();
      any = true;
    }
    if (any) peekers_.notify_all();
  }

  // An item a dead getter never took: to the next getter, else back to the head.
  void give_back(T&& item) noexcept {
    if (auto* g = static_cast<GetWaiter*>(getters_.front())) {
      g->item.emplace(std::move(item));
      getters_.notify_one();
    } else {
      store_.unget(std::move(item));
      peekers_.notify_all();
    }
  }

  void put_impl(T& item, bool block, std::optional<Duration> timeout) {
    check(rendezvous() ? "gev::Channel::put" : "gev::Queue::put");
    if (closed_) throw QueueClosed(std::string(type_name()) + "::put: the queue is closed");
    if (auto* g = static_cast<GetWaiter*>(getters_.front())) {
      // Parked getters imply an empty store: hand the item over, no barging possible.
      g->item.emplace(std::move(item));
      accepted();
      getters_.notify_one();
      return;
    }
    if (putters_.empty() && !is_full()) {
      store_.push(std::move(item));
      accepted();
      peekers_.notify_all();
      return;
    }
    if (!block) throw Full(full_message(false));
    PutWaiter w(putters_, *hub_, &item);
    if (!WaitList::wait(w, timeout, rendezvous() ? "Channel.put" : "Queue.put")) {
      throw Full(full_message(true));
    }
    w.accept();
    if (!w.taken) throw QueueClosed(std::string(type_name()) + "::put: the queue was closed");
  }

  T get_impl(bool block, std::optional<Duration> timeout) {
    check(rendezvous() ? "gev::Channel::get" : "gev::Queue::get");
    if (!store_.empty()) {
      T item = store_.pop();
      if (!putters_.empty()) admit_putters();
      return item;
    }
    if (auto* p = static_cast<PutWaiter*>(putters_.front())) {  // a rendezvous
      T item(std::move(*p->item));
      p->taken = true;
      accepted();
      putters_.notify_one();
      return item;
    }
    if (closed_) throw QueueClosed(std::string(type_name()) + "::get: the queue is closed");
    if (!block) throw Empty(std::string(type_name()) + "::get_nowait: the queue is empty");
    GetWaiter w(getters_, *hub_, this);
    if (!WaitList::wait(w, timeout, rendezvous() ? "Channel.get" : "Queue.get")) {
      throw Empty(std::string(type_name()) + "::get: timed out, the queue is still empty");
    }
    if (!w.item) throw QueueClosed(std::string(type_name()) + "::get: the queue is closed");
    T item(std::move(*w.item));
    w.item.reset();
    w.accept();
    return item;
  }

  const T& peek_impl(bool block, std::optional<Duration> timeout) {
    check("gev::Queue::peek");
    if (!store_.empty()) return store_.top();
    ParkTimer timer(*hub_, hub_->current_fiber(), block ? timeout : std::nullopt);
    while (store_.empty()) {
      if (closed_) throw QueueClosed(std::string(type_name()) + "::peek: the queue is closed");
      if (!block) throw Empty(std::string(type_name()) + "::peek_nowait: the queue is empty");
      Waiter w(peekers_, *hub_);
      while (!w.notified()) {
        if (timer.expired()) {
          throw Empty(std::string(type_name()) + "::peek: timed out, the queue is still empty");
        }
        hub_->park("Queue.peek");
      }
      w.accept();
    }
    return store_.top();
  }

  std::string full_message(bool timed_out) const {
    std::string m =
        std::string(type_name()) + (timed_out ? "::put: timed out, the queue is still full"
                                              : "::put_nowait: the queue is full");
    if (!rendezvous())
      m += " (maxsize " + std::to_string(maxsize_) + ")";
    else if (!timed_out)
      m += " (no getter is waiting)";
    return m;
  }

  Hub* hub_;
  std::size_t maxsize_;  // 0: unbounded (or rendezvous for a channel)
  Kind kind_;
  bool closed_ = false;
  std::size_t unfinished_ = 0;
  Store store_;
  WaitList getters_{&ignore_abandon};  // GetWaiter; give-back is done by ~GetWaiter
  WaitList putters_{&ignore_abandon};  // PutWaiter; the hand-off completes at notify time
  WaitList peekers_{&ignore_abandon};  // woken on every arrival; they re-check
  WaitList joiners_{&ignore_abandon};  // JoinableQueue::join
  /// @endcond
};

// A queue with a maxsize bound that can also peek; the base of the public queue types. Like
// BasicQueue's, its public members are shown on the public queues' pages.
/// The operations of the queue types beyond Channel's (a bound and peek): a base class of Queue,
/// LifoQueue, PriorityQueue and JoinableQueue, whose pages list these members too; use those.
template <class T, class Store>
class PeekableQueue : public BasicQueue<T, Store> {
  using Base = BasicQueue<T, Store>;

 public:
  /// At most `maxsize` items; 0 (the default): unbounded.
  explicit PeekableQueue(std::size_t maxsize = 0) : Base(maxsize, Base::Kind::queue) {}

  /// The item get() would return, left in the queue. Parks while the queue is empty; throws
  /// Empty if `timeout` passed first, QueueClosed if the queue is closed and empty. The
  /// reference is valid until the queue is next modified: copy it before blocking. A blocking
  /// point.
  const T& peek(std::optional<Duration> timeout = std::nullopt) {
    return this->peek_impl(true, timeout);
  }
  /// gevent's peek(block, timeout): with `block` false it never parks and throws Empty at once
  /// when the queue is empty.
  const T& peek(bool block, std::optional<Duration> timeout = std::nullopt) {
    return this->peek_impl(block, timeout);
  }
  /// peek(false): the next item, or Empty at once.
  const T& peek_nowait() { return this->peek_impl(false, std::nullopt); }

  /// True when the queue holds maxsize() items: a put() would park. Never for an unbounded
  /// queue.
  bool full() const noexcept { return this->is_full(); }
  /// The bound; 0: unbounded.
  std::size_t maxsize() const noexcept { return this->maxsize_; }
  /// Changes the bound (0: unbounded); parked putters enter if there is now room.
  void resize(std::size_t maxsize) {
    this->check("gev::Queue::resize");
    this->maxsize_ = maxsize;
    this->admit_putters();
  }
};

}  // namespace detail

/// FIFO queue (gevent.queue.Queue). Queue() / Queue(0): unbounded; Queue(n): at most n items.
///
/// The operations (put, get, peek, their `_nowait` and `block` forms, qsize, empty, full,
/// closed, maxsize, resize, close, iteration) are shared by every queue type; see queue.hpp for
/// an example and the semantics. A queue belongs to the hub of the thread that created it;
/// destroy it only when no greenlet waits on it.
template <class T>
class Queue : public detail::PeekableQueue<T, detail::FifoStore<T>> {
 public:
  /// At most `maxsize` items; 0 (the default): unbounded.
  explicit Queue(std::size_t maxsize = 0)
      : detail::PeekableQueue<T, detail::FifoStore<T>>(maxsize) {}
};

/// Last in, first out (gevent.queue.LifoQueue). Same operations as Queue.
template <class T>
class LifoQueue : public detail::PeekableQueue<T, detail::LifoStore<T>> {
 public:
  /// At most `maxsize` items; 0 (the default): unbounded.
  explicit LifoQueue(std::size_t maxsize = 0)
      : detail::PeekableQueue<T, detail::LifoStore<T>>(maxsize) {}
};

/// Smallest item first by Compare (gevent.queue.PriorityQueue, Python heapq order); use
/// `std::greater<T>` for largest first. Items of equal priority come out in no particular order.
/// Same operations as Queue.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::PeekableQueue<T, detail::PriorityStore<T, Compare>> {
 public:
  /// At most `maxsize` items; 0 (the default): unbounded.
  explicit PriorityQueue(std::size_t maxsize = 0)
      : detail::PeekableQueue<T, detail::PriorityStore<T, Compare>>(maxsize) {}
};

/// A FIFO queue that counts unfinished tasks (gevent.queue.JoinableQueue): every put adds one,
/// task_done() removes one, join() waits until none is left.
template <class T>
class JoinableQueue : public Queue<T> {
 public:
  /// At most `maxsize` items; 0 (the default): unbounded.
  explicit JoinableQueue(std::size_t maxsize = 0) : Queue<T>(maxsize) {}

  /// A consumer finished an item it got. Throws std::logic_error if called more times than
  /// items were put.
  void task_done() {
    this->check("gev::JoinableQueue::task_done");
    if (this->unfinished_ == 0) {
      throw std::logic_error("gev::JoinableQueue::task_done: called more times than items put");
    }
    if (--this->unfinished_ == 0) this->joiners_.notify_all();
  }
  /// Parks until every item put so far has been marked done. False if `timeout` passed first.
  bool join(std::optional<Duration> timeout = std::nullopt) {
    this->check("gev::JoinableQueue::join");
    if (this->unfinished_ == 0) return true;
    detail::Waiter w(this->joiners_, *this->hub_);
    const bool done = detail::WaitList::wait(w, timeout, "JoinableQueue.join");
    w.accept();
    return done;
  }
  /// Items put but not yet marked done with task_done().
  std::size_t unfinished_tasks() const noexcept { return this->unfinished_; }
};

}  // namespace gev
