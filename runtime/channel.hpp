/// @file
/// `Channel<T>`: a rendezvous between greenlets (gevent.queue.Channel, Go's unbuffered channel).
///
/// @code
/// gev::Channel<int> ch;
/// gev::spawn([&] { ch.put(42); });   // parks until a getter takes the item
/// int v = ch.get();                  // parks until a putter offers one
/// ch.put(1, 100ms);                  // throws gev::Full if no getter took it within 100 ms
/// ch.put_nowait(1);                  // only succeeds if a getter is already waiting
/// ch.close();  for (int x : ch) {}   // iteration ends once closed
/// @endcode
///
/// A put that finds a parked getter hands the item over and returns at once; otherwise the
/// putter parks until a getter takes the item (put does not return before that). If a getter
/// that was handed an item is killed or times out before it ran, the item goes to the next
/// waiting getter, or is kept (qsize() counts it) for the next get(): nothing is lost.
/// Getters and putters are each served FIFO. After close(): put throws QueueClosed (so do
/// parked putters); get returns any kept item, then throws QueueClosed.
#pragma once

#include <cstddef>

#include "gev/runtime/queue.hpp"

namespace gev {

/// A rendezvous between greenlets (gevent.queue.Channel, Go's unbuffered channel): put() parks
/// until a getter takes the item. See channel.hpp.
///
/// @tparam T the item type.
template <class T>
class Channel : private detail::BasicQueue<T, detail::FifoStore<T>> {
  using Base = detail::BasicQueue<T, detail::FifoStore<T>>;

 public:
  using value_type = T;  ///< The item type.
  using typename Base::iterator;

  /// An open channel with no greenlets waiting.
  Channel() : Base(0, Base::Kind::channel) {}

  using Base::begin;
  using Base::close;
  using Base::closed;
  using Base::end;
  using Base::get;
  using Base::get_nowait;
  using Base::put;
  using Base::put_nowait;
  using Base::waiting_getters;
  using Base::waiting_putters;

  /// Always 0: a channel has no buffer.
  std::size_t maxsize() const noexcept { return 0; }
  /// Items kept for the next get() because their getter died before taking them (normally 0).
  std::size_t qsize() const noexcept { return this->store_.size(); }
  /// True when a get() would park: no putter waiting and no kept item.
  bool empty() const noexcept { return this->store_.empty() && this->putters_.empty(); }
  /// True when a put() would park: no getter waiting.
  bool full() const noexcept { return this->getters_.empty(); }
  /// Waiting putters minus waiting getters (gevent's Channel.balance).
  std::ptrdiff_t balance() const noexcept {
    return static_cast<std::ptrdiff_t>(this->putters_.size()) -
           static_cast<std::ptrdiff_t>(this->getters_.size());
  }

#ifdef GEV_DOXYGEN
  // Doxygen does not follow the using-declarations above into a private base, so the API
  // reference reads these declarations of the same members instead (GEV_DOXYGEN is defined only
  // there; the compiler never sees them).

  /// Hands `item` to a getter: at once if one is parked, otherwise parks until a getter takes it
  /// (it does not return before). Throws Full if no getter took it within `timeout` (the item
  /// was not delivered), QueueClosed after close() (also for putters parked at the time). A
  /// blocking point.
  void put(T item, std::optional<Duration> timeout = std::nullopt);
  /// gevent's put(item, block, timeout): with `block` false it never parks, and throws Full
  /// unless a getter is already waiting.
  void put(T item, bool block, std::optional<Duration> timeout = std::nullopt);
  /// put(item, false): succeeds only if a getter is already waiting; else throws Full.
  void put_nowait(T item);
  /// Takes a kept item, or the first parked putter's item, or parks until a putter offers one.
  /// Throws Empty if `timeout` passed first; after close(), returns any kept item, then throws
  /// QueueClosed. A blocking point.
  T get(std::optional<Duration> timeout = std::nullopt);
  /// gevent's get(block, timeout): with `block` false it never parks, and throws Empty unless a
  /// putter is waiting or an item is kept.
  T get(bool block, std::optional<Duration> timeout = std::nullopt);
  /// get(false): succeeds only if a putter is waiting or an item is kept; else throws Empty.
  T get_nowait();
  /// No more puts: parked and later putters throw QueueClosed; getters do once no kept item is
  /// left. Idempotent.
  void close();
  /// True once close() was called.
  bool closed() const noexcept;
  /// Greenlets parked in get() right now.
  std::size_t waiting_getters() const noexcept;
  /// Greenlets parked in put() right now.
  std::size_t waiting_putters() const noexcept;
  /// Takes the first item (may park): begin() is a get(). For range-for over the items until
  /// the channel is closed and no kept item is left.
  iterator begin();
  /// The end of the items: reached once the channel is closed and no kept item is left.
  std::default_sentinel_t end() const noexcept;
#endif
};

}  // namespace gev
