#include "gev/runtime/pool.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

#include "gev/hub/park_timer.hpp"
#include "gev/runtime/detail/greenlet_access.hpp"

namespace gev {

Group::Group() : hub_(&Hub::current()) {}

Group::~Group() {
  // Members keep running untracked; their death nodes unlink in ~DeathNode.
  index_.clear();
  members_.clear();
}

void Group::DeathNode::on_death(GreenletBase& g) noexcept {
  owner->remove(g);  // destroys this node: the last thing done here
}

Group::DeathNode::~DeathNode() {
  GreenletAccess::remove_death_waiter(*this);
}

void Group::add(GreenletRef g) {
  hub_->check_thread("gev::Group::add");
  if (!g) throw std::invalid_argument("gev::Group::add: null greenlet");
  g->hub().check_thread("gev::Group::add");
  if (contains(*g) || g->ready()) return;
  acquire_slot();
  SlotGuard slot{this};
  if (contains(*g) || g->ready()) return;  // changed while we waited for a slot
  insert(std::move(g));
  slot.owner = nullptr;
}

void Group::insert(GreenletRef g) {
  GreenletBase& raw = *g;
  auto it = members_.emplace(members_.end());
  it->greenlet = std::move(g);
  it->node.owner = this;
  try {
    index_.emplace(&raw, it);
  } catch (...) {
    members_.erase(it);
    throw;
  }
  if (!GreenletAccess::add_death_waiter(raw, it->node)) remove(raw);
}

void Group::remove(const GreenletBase& g) noexcept {
  auto found = index_.find(&g);
  if (found == index_.end()) return;
  auto it = found->second;
  index_.erase(found);
  GreenletRef keep = std::move(it->greenlet);  // released after the bookkeeping
  members_.erase(it);
  release_slot();
  if (index_.empty()) empty_waiters_.notify_all();
}

void Group::discard(const GreenletBase& g) {
  hub_->check_thread("gev::Group::discard");
  remove(g);
}

bool Group::contains(const GreenletBase& g) const {
  return index_.find(&g) != index_.end();
}

GreenletList Group::greenlets() const {
  GreenletList out;
  out.reserve(index_.size());
  for (const auto& m : members_) out.push_back(m.greenlet);
  return out;
}

bool Group::current_is_member() const {
  GreenletBase* cur = getcurrent();
  return cur != nullptr && contains(*cur);
}

bool Group::join(std::optional<Duration> timeout, bool raise_error) {
  hub_->check_thread("gev::Group::join");
  GreenletList watched;
  if (raise_error) watched = greenlets();
  {
    ParkTimer timer(*hub_, hub_->current_fiber(), timeout);
    while (!index_.empty() && !timer.expired()) {
      detail::Waiter w(empty_waiters_, *hub_);
      hub_->park("Group.join");
      w.accept();
    }
  }
  if (raise_error) {
    for (const auto& g : watched) {
      if (g->ready() && !g->successful()) std::rethrow_exception(g->exception());
    }
  }
  return index_.empty();
}

bool Group::kill(KillOptions options) {
  hub_->check_thread("gev::Group::kill");
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (options.timeout) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(*options.timeout);
  }
  GreenletBase* self = getcurrent();
  KillOptions one{.exception = options.exception, .block = false, .timeout = std::nullopt};
  for (;;) {
    GreenletList targets;
    for (const auto& m : members_) {
      if (m.greenlet.get() != self && !m.greenlet->ready()) targets.push_back(m.greenlet);
    }
    if (targets.empty()) return true;
    for (const auto& g : targets) g->kill(one);
    if (!options.block) {
      for (const auto& g : targets) {
        if (!g->ready()) return false;
      }
      return true;
    }
    std::optional<Duration> left;
    if (deadline) {
      left = std::chrono::duration_cast<Duration>(*deadline - std::chrono::steady_clock::now());
      if (left->count() < 0) left = Duration::zero();
    }
    if (joinall(targets, left).size() != targets.size()) return false;
  }
}

bool Group::killone(const GreenletRef& g, KillOptions options) {
  hub_->check_thread("gev::Group::killone");
  if (!g || !contains(*g)) return true;
  return g->kill(std::move(options));
}

Pool::Pool(std::size_t capacity) : capacity_(capacity), slots_(capacity) {
  if (capacity == 0) throw std::invalid_argument("gev::Pool: capacity must be at least 1, got 0");
}

bool Pool::wait_available(std::optional<Duration> timeout) {
  hub().check_thread("gev::Pool::wait_available");
  return slots_.wait(timeout);
}

void Pool::acquire_slot() {
  slots_.acquire();  // FIFO; a kill or Timeout while parked leaks no slot
}

void Pool::release_slot() noexcept {
  slots_.release();  // unbounded Semaphore: never throws on the owning thread
}

}  // namespace gev
