#include "gev/runtime/joinall.hpp"

#include <chrono>

#include "gev/hub/park_timer.hpp"
#include "gev/runtime/detail/greenlet_access.hpp"

namespace gev {
namespace {

bool failed(const GreenletBase& g) noexcept {
  return g.ready() && !g.successful();
}

// One waiter per greenlet, all waking the same parked fiber.
struct MultiWaiter {
  struct Node final : detail::DeathWaiter {
    MultiWaiter* owner = nullptr;
    void on_death(GreenletBase& g) noexcept override {
      ++owner->finished;
      if (!owner->first_failure && failed(g)) owner->first_failure = &g;
      owner->hub->unpark(*owner->fiber);
    }
    ~Node() { GreenletAccess::remove_death_waiter(*this); }
  };

  Hub* hub;
  detail::Fiber* fiber;
  std::size_t finished = 0;
  GreenletBase* first_failure = nullptr;
  std::vector<Node> nodes;
};

}  // namespace

GreenletList joinall(const GreenletList& greenlets, std::optional<Duration> timeout,
                     bool raise_error) {
  Hub& hub = Hub::current();
  hub.check_thread("gev::joinall");
  MultiWaiter mw{&hub, &hub.current_fiber(), 0, nullptr, {}};
  mw.nodes.resize(greenlets.size());
  for (std::size_t i = 0; i < greenlets.size(); ++i) {
    GreenletBase& g = *greenlets[i];
    g.hub().check_thread("gev::joinall");
    mw.nodes[i].owner = &mw;
    if (!GreenletAccess::add_death_waiter(g, mw.nodes[i])) {
      ++mw.finished;
      if (!mw.first_failure && failed(g)) mw.first_failure = &g;
    }
  }
  {
    ParkTimer timer(hub, hub.current_fiber(), timeout);
    while (mw.finished < greenlets.size() && !(raise_error && mw.first_failure)) {
      if (timer.expired()) break;
      hub.park("joinall");
    }
  }
  if (raise_error && mw.first_failure) std::rethrow_exception(mw.first_failure->exception());
  GreenletList done;
  for (const auto& g : greenlets) {
    if (g->ready()) done.push_back(g);
  }
  return done;
}

bool killall(const GreenletList& greenlets, KillOptions options) {
  const bool block = options.block;
  const auto timeout = options.timeout;
  options.block = false;
  for (const auto& g : greenlets) g->kill(options);
  if (!block) {
    for (const auto& g : greenlets) {
      if (!g->ready()) return false;
    }
    return true;
  }
  return joinall(greenlets, timeout).size() == greenlets.size();
}

struct IWait::Node final : detail::DeathWaiter {
  IWait* owner = nullptr;
  void on_death(GreenletBase& g) noexcept override { owner->on_done(g); }
  ~Node() { GreenletAccess::remove_death_waiter(*this); }
};

IWait::IWait(GreenletList greenlets, std::optional<Duration> timeout, std::size_t count)
    : greenlets_(std::move(greenlets)),
      nodes_(greenlets_.size()),
      count_(count ? count : greenlets_.size()),
      timeout_(timeout),
      hub_(&Hub::current()) {
  hub_->check_thread("gev::iwait");
  done_.reserve(greenlets_.size());
  for (std::size_t i = 0; i < greenlets_.size(); ++i) {
    greenlets_[i]->hub().check_thread("gev::iwait");
    nodes_[i].owner = this;
    if (!GreenletAccess::add_death_waiter(*greenlets_[i], nodes_[i])) {
      done_.push_back(greenlets_[i].get());
    }
  }
  if (timeout_) {
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout_);
  }
}

IWait::~IWait() = default;

void IWait::on_done(GreenletBase& g) noexcept {
  done_.push_back(&g);
  if (waiter_) hub_->unpark(*waiter_);
}

void IWait::advance() {
  current_ = nullptr;
  if (yielded_ >= count_ || timed_out_) return;
  while (next_done_ == done_.size()) {
    std::optional<Duration> left;
    if (deadline_) {
      left = std::chrono::duration_cast<Duration>(*deadline_ - std::chrono::steady_clock::now());
      if (left->count() <= 0) {
        timed_out_ = true;
        return;
      }
    }
    waiter_ = &hub_->current_fiber();
    struct Clear {
      detail::Fiber*& w;
      ~Clear() { w = nullptr; }
    } clear{waiter_};
    ParkTimer timer(*hub_, *waiter_, left);
    hub_->park("iwait");
    if (timer.expired() && next_done_ == done_.size()) {
      timed_out_ = true;
      return;
    }
  }
  current_ = done_[next_done_++];
  ++yielded_;
}

IWait iwait(GreenletList greenlets, std::optional<Duration> timeout, std::size_t count) {
  return IWait(std::move(greenlets), timeout, count);
}

}  // namespace gev
