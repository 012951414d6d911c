#include "gev/hub/hub.hpp"

#include <ev.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>

#include "gev/hub/detail/asan.hpp"
#include "gev/hub/detail/overflow.hpp"
#include "gev/hub/error_hook.hpp"
#include "gev/hub/park_timer.hpp"

namespace gev {

namespace bctx = boost::context::detail;
using detail::Fiber;
using detail::FiberLink;

namespace {

// The hub of this thread. initial-exec: a plain %fs-relative load, no __tls_get_addr call.
[[gnu::tls_model("initial-exec")]] thread_local Hub* tl_hub = nullptr;
[[gnu::tls_model("initial-exec")]] thread_local bool tl_hub_destroyed = false;

// Every hub of the process, for the blocking monitor (Hub::for_each_hub).
// Never destroyed: a detached thread's hub may end after static destructors ran.
std::mutex g_hubs_mutex;
std::vector<Hub*>& g_hubs = *new std::vector<Hub*>;  // guarded by g_hubs_mutex
bool g_publish_running = false;  // guarded by g_hubs_mutex: the default of new hubs

struct HubOwner {
  Hub* hub = nullptr;
  ~HubOwner() { delete hub; }
};
thread_local HubOwner tl_owner;

std::uint64_t monotonic_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string thread_label(pthread_t t) {
  std::ostringstream out;
  out << "0x" << std::hex << static_cast<unsigned long>(t);
  return out.str();
}

const char* state_name(Fiber::State s) noexcept {
  switch (s) {
    case Fiber::State::created:
      return "not started";
    case Fiber::State::ready:
      return "ready";
    case Fiber::State::running:
      return "running";
    case Fiber::State::parked:
      return "parked";
    case Fiber::State::dead:
      return "dead";
  }
  return "?";
}

}  // namespace

// Gives free functions (the fiber trampoline, the SIGSEGV reporter) access to the hub's insides.
struct HubAccess {
  static Hub* hub() noexcept { return tl_hub; }
  static Fiber* current(Hub& h) noexcept { return h.current_; }

  // First code that runs on a new fiber's stack.
  static void trampoline(bctx::transfer_t t) noexcept {
    Hub& hub = *tl_hub;
    Fiber* self = hub.current_;
    hub.after_switch_in_raw(t.fctx, static_cast<Fiber*>(t.data), *self);
    self->fiber_main();
    if (!self->stack_.canary_intact()) [[unlikely]]
      hub.overflow_detected(*self);
    // Dead: leave for good. The hub recycles the stack once it is off it.
    self->state_ = Fiber::State::dead;
    hub.switch_to(*hub.hub_fiber_);
    std::abort();  // unreachable: nothing resumes a dead fiber
  }

  static void atfork_prepare() noexcept;
  static void atfork_parent() noexcept;
  static void atfork_child() noexcept;
};

std::size_t detail::Fiber::fiber_name_into(char* buf, std::size_t len) const noexcept {
  static constexpr char kName[] = "fiber";
  std::size_t n = std::min(len, sizeof kName - 1);
  std::memcpy(buf, kName, n);
  return n;
}

// The thread's original stack, as a fiber. It never runs fiber_main().
class Hub::MainFiber final : public Fiber {
 public:
  std::string fiber_name() const override { return "main"; }
  std::size_t fiber_name_into(char* buf, std::size_t len) const noexcept override {
    std::size_t n = std::min<std::size_t>(len, 4);
    std::memcpy(buf, "main", n);
    return n;
  }

 protected:
  void fiber_main() noexcept override {}
};

class Hub::HubFiber final : public Fiber {
 public:
  explicit HubFiber(Hub& hub) : hub_(hub) {}
  std::string fiber_name() const override { return "hub"; }
  std::size_t fiber_name_into(char* buf, std::size_t len) const noexcept override {
    std::size_t n = std::min<std::size_t>(len, 3);
    std::memcpy(buf, "hub", n);
    return n;
  }

 protected:
  void fiber_main() noexcept override { hub_.hub_main(); }

 private:
  Hub& hub_;
};

// ---------------------------------------------------------------------------------------------
// Creation and destruction

Hub& Hub::current() {
  if (Hub* h = tl_hub) [[likely]]
    return *h;
  if (tl_hub_destroyed) {
    throw std::logic_error("gev: this thread's hub was already destroyed (the thread is exiting)");
  }
  tl_owner.hub = new Hub();
  tl_hub = tl_owner.hub;
  return *tl_hub;
}

Hub* Hub::current_if_exists() noexcept {
  return tl_hub;
}

namespace {
// A duration in microseconds from the environment (0..100000), else `fallback`.
Duration microseconds_from_environment(const char* name, Duration fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long us = std::strtol(text, &end, 10);
  if (*end != '\0' || us < 0 || us > 100'000) {
    std::fprintf(stderr, "gev: ignoring %s=%s (want microseconds, 0..100000)\n", name, text);
    return fallback;
  }
  return std::chrono::microseconds(us);
}
}  // namespace

void Hub::set_io_batching(Duration max_delay) noexcept {
  io_batching_ = max_delay.count() > 0 ? max_delay : Duration::zero();
  ev_set_io_collect_interval(loop_, to_ev_seconds(io_batching_));
}

Hub::Hub() : owner_(pthread_self()) {
  static std::once_flag once;
  std::call_once(once, [] {
    pthread_atfork(&HubAccess::atfork_prepare, &HubAccess::atfork_parent, &HubAccess::atfork_child);
  });

  // Never the default loop: libev's default loop reaps every child process through its own
  // SIGCHLD handler, which would break waitpid() in user code.
  loop_ = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
  if (!loop_) throw std::runtime_error("gev: ev_loop_new failed (out of file descriptors?)");
  ev_set_userdata(loop_, this);
  set_io_batching(microseconds_from_environment("GEV_IO_BATCH_US", Duration::zero()));
  set_poll_spin(microseconds_from_environment("GEV_POLL_SPIN_US", std::chrono::microseconds(50)));
  // 5 ms as gevent. 1 ms was tried first: with ~1000 ready greenlets (an HTTP server at c=1000)
  // a turn outlasts it, the early poll reports every still-queued socket again, and wrk's rate
  // was 13-18% lower.
  set_switch_interval(
      microseconds_from_environment("GEV_SWITCH_INTERVAL_US", std::chrono::milliseconds(5)));

  async_ = new ev_async;
  ev_async_init(async_, &Hub::async_cb);
  ev_async_start(loop_, async_);
  ev_unref(loop_);  // pending posts alone do not keep the loop alive (see KeepAlive)

  auto* main = new MainFiber();
  main->kind_ = Fiber::Kind::main;
  main->state_ = Fiber::State::running;
  main_ = main;
  current_ = main;

  auto* hubf = new HubFiber(*this);
  hubf->kind_ = Fiber::Kind::hub;
  hubf->stack_ = stacks_.acquire(0);
  hubf->asan_bottom_ = hubf->stack_.bottom;
  hubf->asan_size_ = hubf->stack_.size;
  hubf->context_ =
      bctx::make_fcontext(hubf->stack_.top(), hubf->stack_.size, &HubAccess::trampoline);
  hubf->state_ = Fiber::State::parked;
  hub_fiber_ = hubf;

  callbacks_.reserve(64);
  running_callbacks_.reserve(64);
  altstack_ = detail::overflow::install_for_thread();

  std::lock_guard lock(g_hubs_mutex);
  g_hubs.push_back(this);
  publish_running_.store(g_publish_running, std::memory_order_relaxed);
}

Hub::~Hub() {
  {
    std::lock_guard lock(g_hubs_mutex);
    std::erase(g_hubs, this);
  }
  dying_ = true;
  // Unwind what is left so RAII runs (and LeakSanitizer sees no stranded objects). Only possible
  // from the main fiber: when the thread exits from inside a greenlet, the rest is abandoned.
  if (current_ == main_ && in_own_thread() && !std::uncaught_exceptions()) {
    for (int round = 0; round < 100 && live_count_ > 0; ++round) {
      std::vector<Fiber*> live;
      for (auto* n = registry_.front(); n && n != registry_.end(); n = n->next) {
        live.push_back(static_cast<FiberLink*>(n)->fiber);
      }
      for (Fiber* f : live) f->fiber_abandon();
      for (int turn = 0; turn < 10 && live_count_ > 0; ++turn) run_once();
    }
    if (live_count_ > 0) {
      std::fprintf(stderr, "gev: %zu greenlet(s) ignored GreenletExit at thread exit: %s\n",
                   live_count_, describe_fibers(5).c_str());
    }
  }
  detail::overflow::uninstall_for_thread(altstack_);
  { std::lock_guard wait_for_posters(post_mutex_); }  // a post() still inside ev_async_send
  ev_ref(loop_);
  ev_async_stop(loop_, async_);
  delete async_;
  ev_loop_destroy(loop_);
  if (live_count_ == 0) stacks_.release(hub_fiber_->stack_);
  // The main and hub fibers never die before now: what they armed (e.g. gev::local values)
  // is released here, as bury() does for a greenlet.
  for (Fiber* f : {main_, hub_fiber_}) {
    while (detail::ListNode* n = f->death_hooks_.pop_front()) {
      static_cast<detail::FiberDeathHook*>(n)->fiber_died();
    }
  }
  delete static_cast<HubFiber*>(hub_fiber_);
  delete static_cast<MainFiber*>(main_);
  if (tl_hub == this) {
    tl_hub = nullptr;
    tl_hub_destroyed = true;
  }
}

Fiber& Hub::main_fiber() noexcept {
  return *main_;
}
bool Hub::in_hub() const noexcept {
  return current_ == hub_fiber_;
}

void Hub::check_thread(const char* what) const {
  if (in_own_thread()) [[likely]]
    return;
  throw InvalidThreadUseError(std::string("gev: ") + what + " used from thread " +
                              thread_label(pthread_self()) +
                              ", but it belongs to the hub of thread " + thread_label(owner_) +
                              "; hand work to that thread with Hub::post()");
}

// ---------------------------------------------------------------------------------------------
// Switching

void Hub::switch_to(Fiber& to) noexcept {
  Fiber& from = *current_;
  current_ = &to;
  switches_.store(switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (publish_running_.load(std::memory_order_relaxed)) [[unlikely]]
    publish_running(to);
  detail::asan::start_switch(from.state_ == Fiber::State::dead ? nullptr : &from.asan_fake_stack_,
                             to.asan_bottom_, to.asan_size_);
  bctx::transfer_t t = bctx::jump_fcontext(to.context_, &from);
  // Resumed: `t` says who switched to us.
  after_switch_in_raw(t.fctx, static_cast<Fiber*>(t.data), from);
}

void Hub::after_switch_in_raw(void* prev_context, Fiber* prev, Fiber& self) noexcept {
  prev->context_ = prev_context;
  const void* prev_bottom = nullptr;
  std::size_t prev_size = 0;
  detail::asan::finish_switch(self.asan_fake_stack_, &prev_bottom, &prev_size);
  if (prev->asan_bottom_ == nullptr) {  // the main fiber: learn the thread stack's bounds
    prev->asan_bottom_ = prev_bottom;
    prev->asan_size_ = prev_size;
  }
  if (prev->state_ == Fiber::State::dead) bury(*prev);
}

void Hub::first_run(Fiber& f) noexcept {
  try {
    f.stack_ = stacks_.acquire(f.stack_size_);
  } catch (...) {
    // No memory for a stack: the greenlet fails without running, with the reason stored.
    f.state_ = Fiber::State::dead;
    detail::IntrusiveList::erase(f.registry_link_);
    --live_count_;
    f.fiber_start_failed(std::current_exception());
    f.fiber_dead();
    return;
  }
  f.asan_bottom_ = f.stack_.bottom;
  f.asan_size_ = f.stack_.size;
  f.context_ = bctx::make_fcontext(f.stack_.top(), f.stack_.size, &HubAccess::trampoline);
}

void Hub::bury(Fiber& f) noexcept {
  while (detail::ListNode* n = f.death_hooks_.pop_front()) {
    static_cast<detail::FiberDeathHook*>(n)->fiber_died();
  }
  stacks_.release(f.stack_);
  f.stack_ = {};
  f.context_ = nullptr;
  if (f.registry_link_.linked()) {
    detail::IntrusiveList::erase(f.registry_link_);
    --live_count_;
  }
  f.fiber_dead();  // may destroy f
}

// ---------------------------------------------------------------------------------------------
// Parking

// A resumed fiber with a pending interrupt (kill, Timeout, LoopExit) throws it here, at its
// blocking point.
[[noreturn]] void Hub::throw_interrupt(Fiber& self) {
  std::exception_ptr e = std::move(self.interrupt_);
  self.interrupt_ = nullptr;
  self.interrupt_is_kill_ = false;
  std::rethrow_exception(e);
}

void Hub::park(const char* reason) {
  Fiber& self = *current_;
  if (&self == hub_fiber_) [[unlikely]] {
    throw BlockingSwitchOutError(
        std::string("gev: blocking call (") + reason +
        ") made inside the hub, e.g. from a post()/rawlink callback; spawn a greenlet for it");
  }
  if (!self.stack_.canary_intact()) [[unlikely]]
    overflow_detected(self);
  if (self.interrupt_) [[unlikely]]
    throw_interrupt(self);  // left pending by yield_deferring_interrupts()
  self.state_ = Fiber::State::parked;
  self.parked_on_ = reason;
  ++self.park_count_;
  switch_to(*hub_fiber_);
  self.parked_on_ = nullptr;
  if (self.interrupt_) [[unlikely]]
    throw_interrupt(self);
}

void Hub::yield() {
  Fiber& self = *current_;
  if (&self == hub_fiber_) [[unlikely]] {
    throw BlockingSwitchOutError("gev: sleep(0) called inside the hub (a callback)");
  }
  if (!self.stack_.canary_intact()) [[unlikely]]
    overflow_detected(self);
  self.state_ = Fiber::State::parked;
  self.parked_on_ = "sleep(0)";
  ++self.park_count_;
  unpark(self);
  switch_to(*hub_fiber_);
  self.parked_on_ = nullptr;
  if (self.interrupt_) [[unlikely]]
    throw_interrupt(self);
}

bool Hub::yield_deferring_interrupts() noexcept {
  Fiber& self = *current_;
  if (&self == hub_fiber_ || !in_own_thread()) return false;
  self.state_ = Fiber::State::parked;
  self.parked_on_ = "sleep(0)";
  ++self.park_count_;
  unpark(self);
  switch_to(*hub_fiber_);
  self.parked_on_ = nullptr;
  return true;  // an interrupt that arrived stays in self.interrupt_ for park() to raise
}

void Hub::unpark(Fiber& f) noexcept {
  if (f.state_ != Fiber::State::parked) return;
  f.state_ = Fiber::State::ready;
  ready_.push_back(f.ready_link_);
  ++ready_count_;
}

void Hub::interrupt(Fiber& target, std::exception_ptr error, bool is_kill) noexcept {
  // A fiber waiting for a generator that runs on its behalf: the generator gets it. Never the
  // running fiber itself (a body interrupting its own caller): then the last waiter in the chain
  // is woken, and the generator protocol passes it on once the body parks.
  Fiber* to = &target;
  while (to->interrupt_delegate_ && to->interrupt_delegate_ != current_) {
    to = to->interrupt_delegate_;
  }
  Fiber& f = *to;
  if (f.state_ == Fiber::State::dead || &f == hub_fiber_) return;
  if (f.interrupt_ && f.interrupt_is_kill_ && !is_kill) return;  // a kill outranks a timeout
  f.interrupt_ = std::move(error);
  f.interrupt_is_kill_ = is_kill;
  unpark(f);
}

void Hub::switch_into(Fiber& to, const char* reason) {
  Fiber& self = *current_;
  if (&self == hub_fiber_) [[unlikely]] {
    throw BlockingSwitchOutError(
        std::string("gev: blocking call (") + reason +
        ") made inside the hub, e.g. from a post()/rawlink callback; spawn a greenlet for it");
  }
  if (&to == &self || &to == hub_fiber_ || to.state_ == Fiber::State::running ||
      to.state_ == Fiber::State::dead) [[unlikely]] {
    throw std::logic_error("gev: Hub::switch_into: the target fiber cannot be switched to");
  }
  if (to.context_ == nullptr) {
    // Never ran: register it as start() would, then give it a stack.
    if (to.ready_link_.linked()) {
      detail::IntrusiveList::erase(to.ready_link_);
      --ready_count_;
    }
    if (!to.registry_link_.linked()) {
      registry_.push_back(to.registry_link_);
      ++live_count_;
    }
    first_run(to);
    if (to.state_ == Fiber::State::dead) return;  // no stack: it failed without running
  } else if (to.ready_link_.linked()) {
    // Woken (e.g. interrupted) but not yet run: it runs now instead.
    detail::IntrusiveList::erase(to.ready_link_);
    --ready_count_;
  }
  if (!self.stack_.canary_intact()) [[unlikely]]
    overflow_detected(self);
  self.state_ = Fiber::State::parked;
  self.parked_on_ = reason;
  ++self.park_count_;
  to.state_ = Fiber::State::running;
  switch_to(to);
  self.parked_on_ = nullptr;
  if (self.interrupt_) [[unlikely]]
    throw_interrupt(self);
}

void Hub::start(Fiber& f) {
  if (f.state_ != Fiber::State::created || f.ready_link_.linked()) return;
  registry_.push_back(f.registry_link_);
  ++live_count_;
  f.state_ = Fiber::State::ready;
  ready_.push_back(f.ready_link_);
  ++ready_count_;
}

bool Hub::cancel_start(Fiber& f) noexcept {
  if (f.context_ != nullptr || f.state_ == Fiber::State::dead) return false;
  if (f.ready_link_.linked()) {
    detail::IntrusiveList::erase(f.ready_link_);
    --ready_count_;
  }
  if (f.registry_link_.linked()) {
    detail::IntrusiveList::erase(f.registry_link_);
    --live_count_;
  }
  f.state_ = Fiber::State::dead;
  return true;
}

// ---------------------------------------------------------------------------------------------
// The hub's own fiber

void Hub::hub_main() noexcept {
  for (;;) {
    run_callbacks();
    run_ready();
    const bool busy = ready_count_ > 0 || !callbacks_.empty() || !idle_waiters_.empty() ||
                      run_once_waiter_ != nullptr;
    int active;
    if (busy) {
      active = ev_run(loop_, EVRUN_NOWAIT);
    } else {
      stacks_.trim(monotonic_ns());  // about to sleep: give back cold stack memory
      active = poll_for_work();
    }
    if (!idle_waiters_.empty() && ready_count_ == 0 && callbacks_.empty() &&
        ev_pending_count(loop_) == 0) {
      // gev::idle(): nothing else wanted to run this turn.
      for (Fiber* f : idle_waiters_) unpark(*f);
      idle_waiters_.clear();
    }
    if (Fiber* f = run_once_waiter_) {
      run_once_waiter_ = nullptr;
      if (f->ready_link_.linked()) {  // an interrupt (kill, Timeout) already made it ready
        detail::IntrusiveList::erase(f->ready_link_);
        --ready_count_;
      }
      f->state_ = Fiber::State::running;
      switch_to(*f);
      continue;
    }
    if (active == 0 && ready_count_ == 0 && callbacks_.empty() && idle_waiters_.empty()) {
      bool posts_pending;
      {
        std::lock_guard lock(post_mutex_);
        posts_pending = !posts_.empty();
      }
      if (!posts_pending) on_loop_empty();
    }
  }
}

// Out of work: while hot, spin on non-blocking polls for up to poll_spin_, then sleep in the
// kernel until something happens. Returns ev_run's "active watchers" result.
int Hub::poll_for_work() {
  // Batching wants the poll to wait; spinning wants it never to: batching wins when both are set.
  const auto spin = io_batching_.count() > 0 ? 0 : static_cast<std::uint64_t>(poll_spin_.count());
  // Many greenlets means many independent event sources: sleeps are short anyway, and in
  // measurements (16 and 1000 connections) the spin only burned CPU.
  if (hot_ && spin > 0 && live_count_ <= kSpinMaxGreenlets) {
    const std::uint64_t until = monotonic_ns() + spin;
    int active;
    do {
      active = ev_run(loop_, EVRUN_NOWAIT);
      if (has_work()) return active;
    } while (active && idle_waiters_.empty() && monotonic_ns() < until);
    hot_ = false;  // found nothing: sleep, and spin again only once events come fast again
    if (!active || !idle_waiters_.empty()) return active;
  }
  const std::uint64_t before = spin > 0 ? monotonic_ns() : 0;
  const int active = ev_run(loop_, EVRUN_ONCE);
  if (spin > 0) hot_ = has_work() && monotonic_ns() - before < 2 * spin;
  return active;
}

void Hub::run_callbacks() {
  if (callbacks_.empty()) return;
  running_callbacks_.swap(callbacks_);
  for (auto& fn : running_callbacks_) {
    try {
      fn();
    } catch (...) {
      report_error("hub callback", std::current_exception());
    }
  }
  running_callbacks_.clear();
}

void Hub::run_ready() {
  if (ready_count_ == 0) return;
  const std::uint64_t deadline =
      monotonic_ns() + static_cast<std::uint64_t>(switch_interval_.count());
  unsigned ran = 0;
  while (detail::ListNode* node = ready_.pop_front()) {
    --ready_count_;
    Fiber& f = *static_cast<FiberLink*>(node)->fiber;
    if (f.context_ == nullptr) {
      first_run(f);
      if (f.state_ == Fiber::State::dead) continue;
    }
    f.state_ = Fiber::State::running;
    switch_to(f);
    // Fairness: a long run of ready greenlets must not starve I/O and timers.
    if ((++ran & 31u) == 0 && monotonic_ns() >= deadline) break;
  }
}

void Hub::on_loop_empty() {
  if (!loop_waiters_.empty()) {
    // gev::wait(): everything is done.
    for (Fiber* f : loop_waiters_) unpark(*f);
    loop_waiters_.clear();
    return;
  }
  if (main_->state_ == Fiber::State::parked) {
    std::string msg =
        std::string(
            "gev::LoopExit: this operation would block forever: the main greenlet waits in ") +
        (main_->parked_on_ ? main_->parked_on_ : "?") +
        ", and nothing can wake it (no ready greenlets, no active referenced watchers, "
        "no KeepAlive, no pending posts).";
    if (live_count_ > 0) msg += " Still parked: " + describe_fibers(10) + ".";
    if (unreferenced_watchers_ > 0) {
      msg += " Unreferenced watchers (do not keep the loop alive): " +
             std::to_string(unreferenced_watchers_) + ".";
    }
    interrupt(*main_, std::make_exception_ptr(LoopExit(msg)), false);
    return;
  }
  // Not reachable while main is parked or in run_once(); never spin if it ever is.
  ev_sleep(0.001);
}

// ---------------------------------------------------------------------------------------------
// Public driving API

void Hub::run_once() {
  check_thread("Hub::run_once");
  Fiber& self = *current_;
  if (&self == hub_fiber_) throw BlockingSwitchOutError("gev: Hub::run_once called inside the hub");
  if (run_once_waiter_) {
    throw ConcurrentObjectUseError("gev: Hub::run_once called by " + self.fiber_name() + " while " +
                                   run_once_waiter_->fiber_name() + " is in it");
  }
  self.state_ = Fiber::State::parked;
  self.parked_on_ = "Hub::run_once";
  ++self.park_count_;
  run_once_waiter_ = &self;
  switch_to(*hub_fiber_);
  self.parked_on_ = nullptr;
  if (self.interrupt_) [[unlikely]]
    throw_interrupt(self);
}

bool Hub::wait_until_idle(std::optional<Duration> timeout) {
  check_thread("gev::wait");
  Fiber& self = *current_;
  ParkTimer timer(*this, self, timeout, /*referenced=*/false);
  loop_waiters_.push_back(&self);
  struct Unlist {
    std::vector<Fiber*>& v;
    Fiber* f;
    ~Unlist() { std::erase(v, f); }
  } unlist{loop_waiters_, &self};
  for (;;) {
    park("wait()");
    if (std::find(loop_waiters_.begin(), loop_waiters_.end(), &self) == loop_waiters_.end()) {
      return true;  // woken by on_loop_empty
    }
    if (timer.expired()) return false;
  }
}

void Hub::idle() {
  check_thread("gev::idle");
  Fiber& self = *current_;
  idle_waiters_.push_back(&self);
  struct Unlist {
    std::vector<Fiber*>& v;
    Fiber* f;
    ~Unlist() { std::erase(v, f); }
  } unlist{idle_waiters_, &self};
  while (std::find(idle_waiters_.begin(), idle_waiters_.end(), &self) != idle_waiters_.end()) {
    park("idle()");
  }
}

void Hub::run_for(Duration d) {
  check_thread("Hub::run_for");
  Fiber& self = *current_;
  ParkTimer timer(*this, self, d);
  while (!timer.expired()) park("Hub::run_for");
}

void Hub::call_soon(std::function<void()> fn) {
  check_thread("Hub::call_soon");
  callbacks_.push_back(std::move(fn));
}

void Hub::post(std::function<void()> fn) {
  // Wake the loop while still holding the mutex: the posted function may end the hub's thread
  // (HubThread::stop), and ~Hub takes this mutex before freeing the loop.
  std::lock_guard lock(post_mutex_);
  const bool wake = posts_.empty();
  posts_.push_back(std::move(fn));
  if (wake) ev_async_send(loop_, async_);
}

void Hub::async_cb(struct ev_loop* loop, ev_async*, int) noexcept {
  static_cast<Hub*>(ev_userdata(loop))->drain_posts();
}

void Hub::drain_posts() {
  {
    std::lock_guard lock(post_mutex_);
    running_posts_.swap(posts_);
  }
  for (auto& fn : running_posts_) {
    try {
      fn();
    } catch (...) {
      report_error("hub post() callback", std::current_exception());
    }
  }
  running_posts_.clear();
}

Hub::KeepAlive::KeepAlive(Hub& hub) : hub_(&hub) {
  hub.check_thread("Hub::KeepAlive");
  ++hub.keep_alives_;
  ev_ref(hub.loop_);
}

Hub::KeepAlive::~KeepAlive() {
  --hub_->keep_alives_;
  ev_unref(hub_->loop_);
}

// ---------------------------------------------------------------------------------------------
// Introspection

std::string Hub::describe_fibers(std::size_t limit) const {
  std::string out;
  std::size_t n = 0;
  for (auto* node = registry_.front(); node && node != registry_.end(); node = node->next) {
    const Fiber& f = *static_cast<const FiberLink*>(node)->fiber;
    if (n == limit) {
      out += ", ... (" + std::to_string(live_count_ - limit) + " more)";
      break;
    }
    if (n++) out += ", ";
    out += f.fiber_name();
    out += " (";
    out += state_name(f.state_);
    if (f.state_ == Fiber::State::parked && f.parked_on_) {
      out += " in ";
      out += f.parked_on_;
    }
    out += ")";
  }
  return out.empty() ? "none" : out;
}

void Hub::publish_running(Fiber& to) noexcept {
  if (&to == hub_fiber_) {  // back in the hub: no name to publish
    pulse_.in_fiber.store(false, std::memory_order_relaxed);
    return;
  }
  char buf[sizeof pulse_.name] = {};
  to.fiber_name_into(buf, sizeof buf - 1);
  const std::uint32_t s = pulse_.seq.load(std::memory_order_relaxed);
  pulse_.seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (std::size_t i = 0; i < Pulse::kWords; ++i) {
    std::uint64_t word;
    std::memcpy(&word, buf + i * sizeof word, sizeof word);
    pulse_.name[i].store(word, std::memory_order_relaxed);
  }
  pulse_.in_fiber.store(true, std::memory_order_relaxed);
  pulse_.seq.store(s + 2, std::memory_order_release);
}

bool Hub::running_fiber_name(char* buf, std::size_t len) const noexcept {
  if (len == 0 || !publish_running_.load(std::memory_order_relaxed)) return false;
  std::uint64_t words[Pulse::kWords];
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::uint32_t s = pulse_.seq.load(std::memory_order_acquire);
    if (s & 1u) continue;
    for (std::size_t i = 0; i < Pulse::kWords; ++i) {
      words[i] = pulse_.name[i].load(std::memory_order_relaxed);
    }
    const bool in_fiber = pulse_.in_fiber.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (pulse_.seq.load(std::memory_order_relaxed) != s) continue;
    if (!in_fiber) return false;
    const std::size_t n = std::min(len - 1, sizeof words - 1);
    std::memcpy(buf, words, n);
    buf[n] = '\0';
    return true;
  }
  return false;
}

void Hub::set_publish_running(bool on) {
  std::lock_guard lock(g_hubs_mutex);
  g_publish_running = on;
  for (Hub* h : g_hubs) {
    // Unknown until the hub's next switch: assume it is idle (never a false report).
    if (on && !h->publish_running_.load(std::memory_order_relaxed)) {
      h->pulse_.in_fiber.store(false, std::memory_order_relaxed);
    }
    h->publish_running_.store(on, std::memory_order_relaxed);
  }
}

void Hub::for_each_hub(const std::function<void(Hub&)>& fn) {
  std::lock_guard lock(g_hubs_mutex);
  for (Hub* h : g_hubs) fn(*h);
}

void Hub::for_each_greenlet(const std::function<void(Fiber&)>& fn) {
  std::vector<Fiber*> live;
  for (auto* node = registry_.front(); node && node != registry_.end(); node = node->next) {
    live.push_back(static_cast<FiberLink*>(node)->fiber);
  }
  for (Fiber* f : live) fn(*f);
}

// ---------------------------------------------------------------------------------------------
// Stack overflow and fork

void Hub::overflow_detected(Fiber& f) noexcept {
  char name[128];
  std::size_t n = f.fiber_name_into(name, sizeof name);
  std::fprintf(stderr,
               "gev: stack overflow in greenlet %.*s (its %zu KiB stack was overrun; detected by "
               "the canary). Raise SpawnOptions::stack_size or GEV_STACK_SIZE.\n",
               static_cast<int>(n), name, f.stack_.size >> 10);
  std::fflush(stderr);
  std::abort();
}

void Hub::reinit_after_fork() noexcept {
  owner_ = pthread_self();
  ev_loop_fork(loop_);
}

void HubAccess::atfork_prepare() noexcept {
  g_hubs_mutex.lock();
  if (tl_hub) tl_hub->post_mutex_.lock();
}
void HubAccess::atfork_parent() noexcept {
  if (tl_hub) tl_hub->post_mutex_.unlock();
  g_hubs_mutex.unlock();
}
void HubAccess::atfork_child() noexcept {
  g_hubs_mutex.unlock();
  if (tl_hub) {
    tl_hub->post_mutex_.unlock();
    tl_hub->reinit_after_fork();
  }
}

}  // namespace gev

namespace gev::detail {
const Fiber* running_fiber_for_signal() noexcept {
  Hub* h = HubAccess::hub();
  return h ? HubAccess::current(*h) : nullptr;
}
}  // namespace gev::detail

namespace gev {

void detail::Fiber::fiber_abandon() noexcept {
  Hub& hub = *HubAccess::hub();
  if (hub.cancel_start(*this)) {
    fiber_dead();
  } else {
    hub.interrupt(*this, std::make_exception_ptr(GreenletExit()), true);
  }
}

namespace {
// A fiber that runs one function and deletes itself when done.
class RawFiber final : public detail::Fiber {
 public:
  RawFiber(std::function<void()> fn, std::size_t stack_size) : fn_(std::move(fn)) {
    stack_size_ = stack_size;
  }
  std::string fiber_name() const override { return "raw fiber"; }

 protected:
  void fiber_main() noexcept override {
    try {
      fn_();
    } catch (const GreenletExit&) {
    } catch (...) {
      report_error("raw fiber", std::current_exception());
    }
  }
  void fiber_start_failed(std::exception_ptr error) noexcept override {
    report_error("raw fiber (could not start)", error);
  }
  void fiber_dead() noexcept override { delete this; }

 private:
  std::function<void()> fn_;
};
}  // namespace

void Hub::spawn_raw(std::function<void()> fn, std::size_t stack_size) {
  check_thread("Hub::spawn_raw");
  start(*new RawFiber(std::move(fn), stack_size));
}

}  // namespace gev
