// Waiting for and killing many greenlets at once: joinall, killall, iwait.
//
//   gev::joinall({g1, g2}, 5s);                       // returns the ones that finished
//   gev::joinall(jobs, std::nullopt, /*raise_error=*/true);  // rethrows the first failure
//   gev::killall(jobs);                               // GreenletExit in each, then join
//   for (gev::GreenletBase& done : gev::iwait(jobs)) { ... }  // in completion order
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <vector>

#include "gev/runtime/greenlet.hpp"

namespace gev {

using GreenletRef = std::shared_ptr<GreenletBase>;
using GreenletList = std::vector<GreenletRef>;

// Waits until every greenlet finished, or `timeout` passed. Returns those that finished (in
// the order given). With raise_error, rethrows the exception of the first greenlet to fail
// (GreenletExit does not count as a failure).
GreenletList joinall(const GreenletList& greenlets, std::optional<Duration> timeout = std::nullopt,
                     bool raise_error = false);

template <std::ranges::input_range R>
requires(!std::same_as<std::remove_cvref_t<R>, GreenletList>) GreenletList
    joinall(const R& greenlets, std::optional<Duration> timeout = std::nullopt,
            bool raise_error = false) {
  return joinall(GreenletList(std::ranges::begin(greenlets), std::ranges::end(greenlets)), timeout,
                 raise_error);
}

// Kills every greenlet (those not yet started never run) and, with block, waits for all of
// them up to `timeout`. Returns whether all finished.
bool killall(const GreenletList& greenlets, KillOptions options = {});

template <std::ranges::input_range R>
requires(!std::same_as<std::remove_cvref_t<R>, GreenletList>) bool killall(
    const R& greenlets, KillOptions options = {}) {
  return killall(GreenletList(std::ranges::begin(greenlets), std::ranges::end(greenlets)),
                 std::move(options));
}

// Yields each greenlet as it finishes (finished ones first, in the order given), until all
// did, `count` did, or `timeout` passed. Single pass; keep the object while iterating.
class IWait {
 public:
  IWait(GreenletList greenlets, std::optional<Duration> timeout, std::size_t count);
  IWait(const IWait&) = delete;
  IWait& operator=(const IWait&) = delete;
  ~IWait();

  class iterator {
   public:
    using value_type = GreenletBase;
    using difference_type = std::ptrdiff_t;
    GreenletBase& operator*() const { return *owner_->current_; }
    iterator& operator++() {
      owner_->advance();
      return *this;
    }
    void operator++(int) { owner_->advance(); }
    bool operator==(std::default_sentinel_t) const { return owner_->current_ == nullptr; }

   private:
    friend class IWait;
    explicit iterator(IWait* owner) : owner_(owner) {}
    IWait* owner_;
  };

  iterator begin() {
    if (!begun_) {
      begun_ = true;
      advance();
    }
    return iterator(this);
  }
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

IWait iwait(GreenletList greenlets, std::optional<Duration> timeout = std::nullopt,
            std::size_t count = 0);

template <std::ranges::input_range R>
requires(!std::same_as<std::remove_cvref_t<R>, GreenletList>) IWait
    iwait(const R& greenlets, std::optional<Duration> timeout = std::nullopt,
          std::size_t count = 0) {
  return iwait(GreenletList(std::ranges::begin(greenlets), std::ranges::end(greenlets)), timeout,
               count);
}

}  // namespace gev
