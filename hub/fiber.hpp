// The control block the hub schedules: one per greenlet, plus one for the thread's own stack
// (the main greenlet) and one for the hub. Greenlet (runtime/) derives from it; code outside
// hub/ and runtime/ never sees it.
//
// A fiber is in exactly one state:
//   created  -- not yet run (may sit in the ready queue if started)
//   ready    -- in the hub's ready queue, will be switched to
//   running  -- the current fiber of its hub
//   parked   -- switched out, waiting for unpark() (or an interrupt)
//   dead     -- returned from fiber_main(); its stack is back in the pool
// See hub/DESIGN-NOTES.md for the switch and park/unpark protocol.
#pragma once

#include <cstdint>
#include <exception>
#include <string>

#include "gev/hub/stack.hpp"

namespace gev {

class Hub;
struct HubAccess;

/// @cond INTERNAL
namespace detail {

// Intrusive doubly-linked list node (ready queue, registry of live fibers, waiter lists).
struct ListNode {
  ListNode* prev = nullptr;
  ListNode* next = nullptr;
  bool linked() const noexcept { return next != nullptr; }
};

// Circular intrusive list with a sentinel; O(1) push/pop/erase, allocates nothing.
class IntrusiveList {
 public:
  IntrusiveList() noexcept { head_.prev = head_.next = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const noexcept { return head_.next == &head_; }
  void push_back(ListNode& n) noexcept {
    n.prev = head_.prev;
    n.next = &head_;
    head_.prev->next = &n;
    head_.prev = &n;
  }
  ListNode* pop_front() noexcept {
    if (empty()) return nullptr;
    ListNode* n = head_.next;
    erase(*n);
    return n;
  }
  static void erase(ListNode& n) noexcept {
    n.prev->next = n.next;
    n.next->prev = n.prev;
    n.prev = n.next = nullptr;
  }
  ListNode* front() const noexcept { return empty() ? nullptr : head_.next; }
  const ListNode* end() const noexcept { return &head_; }
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const ListNode* p = head_.next; p != &head_; p = p->next) ++n;
    return n;
  }

 private:
  ListNode head_;
};

class Fiber;

// Told when a fiber dies, before its stack is recycled: things armed on its behalf (a Timeout)
// disarm themselves instead of firing at a freed fiber. Lives in the armed object.
struct FiberDeathHook : ListNode {
  virtual void fiber_died() noexcept = 0;

 protected:
  ~FiberDeathHook() = default;
};

// A list node that knows its fiber (Fiber is polymorphic, so offsetof is not an option).
struct FiberLink : ListNode {
  Fiber* fiber = nullptr;
};

class Fiber {
 public:
  enum class State : std::uint8_t { created, ready, running, parked, dead };

  Fiber() noexcept {
    ready_link_.fiber = this;
    registry_link_.fiber = this;
  }
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  virtual ~Fiber() = default;

  State state() const noexcept { return state_; }
  // What the fiber is parked in ("sleep", "join", ...) while parked; for LoopExit and run-info.
  const char* parked_on() const noexcept { return parked_on_; }
  // Incremented each time the fiber parks: tells one wait from the next.
  std::uint32_t park_count() const noexcept { return park_count_; }
  // The name shown in error reports and LoopExit messages.
  virtual std::string fiber_name() const = 0;
  // Writes the name into buf with no allocation (used from the SIGSEGV handler).
  virtual std::size_t fiber_name_into(char* buf, std::size_t len) const noexcept;
  // End this fiber asynchronously (hub teardown, shutdown). The default cancels
  // a fiber that never ran and throws GreenletExit into one that did.
  virtual void fiber_abandon() noexcept;
  bool is_main() const noexcept { return kind_ == Kind::main; }
  bool is_hub() const noexcept { return kind_ == Kind::hub; }
  const Stack& stack() const noexcept { return stack_; }
  // Registers `hook` to run when this fiber dies; unlink it (IntrusiveList::erase) to cancel.
  void add_death_hook(FiberDeathHook& hook) noexcept { death_hooks_.push_back(hook); }

  // ---- generators and fiber-local storage (runtime/generator.hpp, runtime/local.hpp) ----------
  // While a generator runs on behalf of this fiber, interrupts aimed at this fiber (kill,
  // Timeout, LoopExit) go to the generator instead (Hub::interrupt follows the chain), so they
  // land at the generator's blocking point, as in gevent where a generator runs on its caller's
  // greenlet. Null otherwise.
  Fiber* interrupt_delegate() const noexcept { return interrupt_delegate_; }
  void set_interrupt_delegate(Fiber* to) noexcept { interrupt_delegate_ = to; }
  // The fiber a generator currently runs for (its caller), or null: gev::local resolves
  // through it, so a generator body sees its caller's values.
  Fiber* acting_for() const noexcept { return acting_for_; }
  void set_acting_for(Fiber* f) noexcept { acting_for_ = f; }
  // gev::local's per-fiber table (owned by runtime/local.cpp, freed by a death hook); null until
  // the fiber first touches a local.
  void* local_storage() const noexcept { return local_storage_; }
  void set_local_storage(void* p) noexcept { local_storage_ = p; }

 protected:
  // The fiber's body. Must not throw: Greenlet catches everything and stores it.
  virtual void fiber_main() noexcept = 0;
  // Called by the hub after the fiber died and its stack was recycled, on the hub's stack. The
  // object may destroy itself here (it is the hub's last touch).
  virtual void fiber_dead() noexcept {}
  // No stack could be had for the first run: the fiber dies without running, with this error.
  virtual void fiber_start_failed(std::exception_ptr error) noexcept { (void)error; }

  // Requested stack size (0 = default).
  std::size_t stack_size_ = 0;

 private:
  friend class gev::Hub;
  friend struct gev::HubAccess;
  enum class Kind : std::uint8_t { greenlet, main, hub };

  FiberLink ready_link_;     // in the hub's ready queue
  FiberLink registry_link_;  // in the hub's list of live fibers
  IntrusiveList death_hooks_;
  void* context_ = nullptr;  // boost::context fcontext_t while switched out
  Stack stack_;
  std::exception_ptr interrupt_;  // thrown at the next resume (kill, Timeout)
  bool interrupt_is_kill_ = false;
  const char* parked_on_ = nullptr;
  Fiber* interrupt_delegate_ = nullptr;
  Fiber* acting_for_ = nullptr;
  void* local_storage_ = nullptr;
  std::uint32_t park_count_ = 0;
  State state_ = State::created;
  Kind kind_ = Kind::greenlet;
  // AddressSanitizer bookkeeping: the stack bounds ASan should switch to and the fake stack.
  const void* asan_bottom_ = nullptr;
  std::size_t asan_size_ = 0;
  void* asan_fake_stack_ = nullptr;
};

}  // namespace detail
/// @endcond
}  // namespace gev
