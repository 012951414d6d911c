/// @file
/// Waiting for and killing many greenlets at once: joinall, killall, iwait.
///
/// @code
/// gev::joinall({g1, g2}, 5s);                       // returns the ones that finished
/// gev::joinall(jobs, std::nullopt, /*raise_error=*/true);  // rethrows the first failure
/// gev::killall(jobs);                               // GreenletExit in each, then join
/// for (gev::GreenletBase& done : gev::iwait(jobs)) { ... }  // in completion order
/// @endcode
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <vector>

#include "gev/runtime/greenlet.hpp"

namespace gev {

/// A shared handle to a greenlet of any result type.
using GreenletRef = std::shared_ptr<GreenletBase>;
/// A list of greenlets (joinall(), killall(), iwait(), Group::greenlets()).
using GreenletList = std::vector<GreenletRef>;

/// Waits until every greenlet finished, or `timeout` passed. Returns those that finished (in
/// the order given). With raise_error, rethrows the exception of the first greenlet to fail, as
/// soon as one has failed (GreenletExit does not count as a failure).
GreenletList joinall(const GreenletList& greenlets, std::optional<Duration> timeout = std::nullopt,
                     bool raise_error = false);

/// joinall() for any range of greenlet handles (copied into a GreenletList).
template <std::ranges::input_range R>
requires(!std::same_as<std::remove_cvref_t<R>, GreenletList>) GreenletList
    joinall(const R& greenlets, std::optional<Duration> timeout = std::nullopt,
            bool raise_error = false) {
  return joinall(GreenletList(std::ranges::begin(greenlets), std::ranges::end(greenlets)), timeout,
                 raise_error);
}

/// Kills every greenlet (those not yet started never run) and, with options.block, waits for
/// all of them up to options.timeout. Returns whether all finished.
bool killall(const GreenletList& greenlets, KillOptions options = {});

/// killall() for any range of greenlet handles (copied into a GreenletList).
template <std::ranges::input_range R>
requires(!std::same_as<std::remove_cvref_t<R>, GreenletList>) bool killall(
    const R& greenlets, KillOptions options = {}) {
  return killall(GreenletList(std::ranges::begin(greenlets), std::ranges::end(greenlets)),
                 std::move(options));
}

/// Yields each greenlet as it finishes (finished ones first, in the order given), until all
/// did, `count` did, or `timeout` passed. Single pass; keep the object while iterating.
///
/// Made by iwait(); iterate it with range-for.
class IWait {
 public:
  /// See iwait(); `count` 0 means all of them.
  IWait(GreenletList greenlets, std::optional<Duration> timeout, std::size_t count);
  IWait(const IWait&) = delete;
  IWait& operator=(const IWait&) = delete;
  ~IWait();

  /// An input iterator over the finished greenlets (compares equal to end() once done).
  class iterator {
   public:
    using value_type = GreenletBase;         ///< The elements: finished greenlets.
    using difference_type = std::ptrdiff_t;  ///< Required of iterators; unused.
    /// The greenlet that just finished.
    GreenletBase& operator*() const { return *owner_->current_; }
    /// Waits for the next finished greenlet (or the end: all, `count`, or `timeout`).
    iterator& operator++() {
      owner_->advance();
      return *this;
    }
    /// @copydoc operator++()
    void operator++(int) { owner_->advance(); }
    /// True at the end.
    bool operator==(std::default_sentinel_t) const { return owner_->current_ == nullptr; }

   private:
    friend class IWait;
    explicit iterator(IWait* owner) : owner_(owner) {}
    IWait* owner_;
  };

  /// Waits for the first finished greenlet (on the first call only).
  iterator begin() {
    if (!begun_) {
      begun_ = true;
      advance();
    }
    return iterator(this);
  }
  /// The end sentinel.
  std::default_sentinel_t end() const { return {}; }

 private:
  struct Node;
  void advance();
  void on_done(GreenletBase& g) noexcept;

  GreenletList greenlets_;
  std::vector<Node> nodes_;
  std::vector<GreenletBase*> done_;  // finished, not yet yielded (FIFO)
  std::size_t next_done_ = 0;
  std::size_t yielded_ = 0;
  std::size_t count_;
  std::optional<Duration> timeout_;
  Hub* hub_;
  detail::Fiber* waiter_ = nullptr;
  GreenletBase* current_ = nullptr;
  bool begun_ = false;
  bool timed_out_ = false;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

/// Iterates over the greenlets as they finish (finished ones first, in the order given), until
/// all did, `count` did (0: all), or `timeout` passed. Single pass; keep the IWait while
/// iterating.
IWait iwait(GreenletList greenlets, std::optional<Duration> timeout = std::nullopt,
            std::size_t count = 0);

/// iwait() for any range of greenlet handles (copied into a GreenletList).
template <std::ranges::input_range R>
requires(!std::same_as<std::remove_cvref_t<R>, GreenletList>) IWait
    iwait(const R& greenlets, std::optional<Duration> timeout = std::nullopt,
          std::size_t count = 0) {
  return iwait(GreenletList(std::ranges::begin(greenlets), std::ranges::end(greenlets)), timeout,
               count);
}

}  // namespace gev
