// Internal: lets joinall/iwait/shutdown register death waiters on greenlets.
#pragma once

#include "gev/runtime/greenlet.hpp"

namespace gev {

class GreenletAccess {
 public:
  // Registers `w`; it is told once when g finishes. Returns false (and registers nothing) if g
  // already finished.
  static bool add_death_waiter(GreenletBase& g, detail::DeathWaiter& w) noexcept {
    if (g.finished_) return false;
    g.death_waiters_.push_back(w);
    return true;
  }
  static void remove_death_waiter(detail::DeathWaiter& w) noexcept {
    if (w.linked()) detail::IntrusiveList::erase(w);
  }
};

}  // namespace gev
