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
/// Besides the members below, it has the operations of runtime/queue.hpp:
/// - put(item, timeout), put(item, block, timeout), put_nowait(item): hand the item to a getter,
///   parking until one takes it; Full if `timeout` passed first, or at once when not blocking
///   and no getter is waiting.
/// - get(timeout), get(block, timeout), get_nowait(): take an item, parking until a putter
///   offers one; Empty if `timeout` passed first (or at once when not blocking), QueueClosed
///   once the channel is closed and no kept item is left.
/// - close(): no more puts (parked putters throw QueueClosed); closed() tells. Idempotent.
/// - waiting_getters(), waiting_putters(): greenlets parked in get() / put() right now.
/// - range-for (begin(), end()): items until the channel is closed; begin() is a get().
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
};

}  // namespace gev
