#include "gev/runtime/greenlet.hpp"

#include <execinfo.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <typeinfo>

#include "gev/hub/error_hook.hpp"
#include "gev/hub/park_timer.hpp"
#include "gev/runtime/timeout.hpp"

namespace gev {
namespace {

std::uint64_t next_greenlet_id() noexcept {
  thread_local std::uint64_t counter = 0;
  return ++counter;
}

std::size_t format_default_name(char* buf, std::size_t len, std::uint64_t id) noexcept {
  static constexpr char kPrefix[] = "Greenlet-";
  char digits[24];
  std::size_t nd = 0;
  do {
    digits[nd++] = static_cast<char>('0' + id % 10);
    id /= 10;
  } while (id);
  std::size_t n = 0;
  for (std::size_t i = 0; i < sizeof kPrefix - 1 && n < len; ++i) buf[n++] = kPrefix[i];
  while (nd > 0 && n < len) buf[n++] = digits[--nd];
  return n;
}

bool env_flag(const char* name) noexcept {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

std::atomic<bool> g_track_spawn_site{env_flag("GEV_TRACK_SPAWN")};

// dynamic_cast<GreenletBase*> costs ~20 ns, too much for every spawn made by a greenlet; the
// answer depends only on the dynamic type, so remember it for the last type seen (usually the
// one greenlet type a program spawns from). typeid is one load; the static_cast is valid because
// the cached answer says the object is a GreenletBase.
[[gnu::tls_model("initial-exec")]] thread_local const std::type_info* tl_last_type = nullptr;
[[gnu::tls_model("initial-exec")]] thread_local bool tl_last_is_greenlet = false;

GreenletBase* as_greenlet(detail::Fiber& f) noexcept {
  const std::type_info* type = &typeid(f);
  if (type != tl_last_type) {
    tl_last_is_greenlet = dynamic_cast<GreenletBase*>(&f) != nullptr;
    tl_last_type = type;
  }
  return tl_last_is_greenlet ? static_cast<GreenletBase*>(&f) : nullptr;
}

}  // namespace

void set_track_spawn_site(bool on) noexcept {
  g_track_spawn_site.store(on, std::memory_order_relaxed);
}
bool track_spawn_site() noexcept {
  return g_track_spawn_site.load(std::memory_order_relaxed);
}

GreenletBase::GreenletBase(SpawnOptions options)
    : hub_(&Hub::current()), name_(std::move(options.name)), id_(next_greenlet_id()) {
  stack_size_ = options.stack_size;
  detail::Fiber& creator = hub_->current_fiber();
  if (!creator.is_main()) record_parent(creator);  // main: the defaults say so
  if (g_track_spawn_site.load(std::memory_order_relaxed)) [[unlikely]]
    capture_spawn_site();
}

void GreenletBase::record_parent(detail::Fiber& creator) noexcept {
  if (creator.is_hub()) {
    parent_kind_ = ParentKind::hub;
  } else if (auto* g = as_greenlet(creator)) {
    parent_kind_ = ParentKind::greenlet;
    parent_id_ = g->id_;
    try {
      parent_name_ = g->name_;
    } catch (...) {  // out of memory: the default name (from the id) will do
    }
  } else {
    parent_kind_ = ParentKind::fiber;  // a raw fiber (a link callback), a generator, ...
    try {
      parent_name_ = creator.fiber_name();
    } catch (...) {
    }
  }
}

[[gnu::noinline]] void GreenletBase::capture_spawn_site() noexcept {
  spawn_site_.reset(new (std::nothrow) detail::SpawnSite);
  if (spawn_site_)
    spawn_site_->depth = backtrace(spawn_site_->frames, detail::SpawnSite::kMaxFrames);
}

std::string GreenletBase::parent_name() const {
  switch (parent_kind_) {
    case ParentKind::main:
      return "main";
    case ParentKind::hub:
      return "hub";
    case ParentKind::fiber:
      return parent_name_.empty() ? "fiber" : parent_name_;
    case ParentKind::greenlet:
      break;
  }
  if (!parent_name_.empty()) return parent_name_;
  char buf[32];
  return std::string(buf, format_default_name(buf, sizeof buf, parent_id_));
}

GreenletBase::~GreenletBase() {
  if (start_timer_armed_) ev_timer_stop(hub_->loop(), &start_timer_);
  if (finished_ || !ran_) {
    // Never ran (or finished): just make sure the hub forgets it.
    if (!finished_) hub_->cancel_start(*this);
    return;
  }
  char name[128];
  std::size_t n = fiber_name_into(name, sizeof name);
  std::fprintf(stderr,
               "gev: greenlet %.*s destroyed while still running; join() or kill() it before it "
               "goes out of scope (or create it with gev::spawn)\n",
               static_cast<int>(n), name);
  std::terminate();
}

std::string GreenletBase::name() const {
  if (!name_.empty()) return name_;
  char buf[32];
  return std::string(buf, format_default_name(buf, sizeof buf, id_));
}

std::size_t GreenletBase::fiber_name_into(char* buf, std::size_t len) const noexcept {
  if (name_.empty()) return format_default_name(buf, len, id_);
  std::size_t n = std::min(len, name_.size());
  std::memcpy(buf, name_.data(), n);
  return n;
}

void GreenletBase::start() {
  hub_->check_thread("Greenlet::start");
  if (start_requested_ || finished_) return;
  start_requested_ = true;
  if (keep_alive_ == nullptr) keep_alive_ = weak_from_this().lock();
  hub_->start(*this);
}

void GreenletBase::start_later(Duration delay) {
  hub_->check_thread("Greenlet::start_later");
  if (start_requested_ || finished_) return;
  start_requested_ = true;
  if (keep_alive_ == nullptr) keep_alive_ = weak_from_this().lock();
  ev_now_update(hub_->loop());
  ev_timer_init(&start_timer_, &GreenletBase::on_start_timer, to_ev_seconds(delay), 0.0);
  start_timer_.data = this;
  ev_timer_start(hub_->loop(), &start_timer_);
  start_timer_armed_ = true;
}

void GreenletBase::on_start_timer(struct ev_loop*, ev_timer* w, int) noexcept {
  auto* self = static_cast<GreenletBase*>(w->data);
  self->start_timer_armed_ = false;
  self->hub_->start(*self);
}

void GreenletBase::fiber_main() noexcept {
  ran_ = true;
  try {
    invoke_body();
  } catch (const GreenletExit&) {
    exception_ = std::current_exception();
    killed_ = true;
  } catch (...) {
    exception_ = std::current_exception();
  }
}

void GreenletBase::fiber_start_failed(std::exception_ptr error) noexcept {
  exception_ = error;
}

void GreenletBase::fiber_dead() noexcept {
  auto self = std::move(keep_alive_);  // released last: it may be the final reference
  finish();
}

void GreenletBase::finish() noexcept {
  finished_ = true;
  while (detail::ListNode* n = death_waiters_.pop_front()) {
    static_cast<detail::DeathWaiter*>(n)->on_death(*this);
  }
  auto links = std::move(links_);
  links_.clear();
  for (const auto& [kind, fn] : links) schedule_link(kind, fn);
  if (exception_ && !killed_) report_error("greenlet '" + name() + "'", exception_);
}

void GreenletBase::schedule_link(LinkKind kind, const LinkFn& fn) {
  if (kind == LinkKind::value && !successful()) return;
  if (kind == LinkKind::exception && successful()) return;
  std::shared_ptr<GreenletBase> self = weak_from_this().lock();
  GreenletBase* raw = this;
  try {
    if (kind == LinkKind::raw) {
      // Now: in the hub, or inside kill() for a greenlet that never ran. Must not block.
      fn(*this);
    } else {
      hub_->spawn_raw([self, raw, fn] {
        try {
          fn(*raw);
        } catch (const GreenletExit&) {
        } catch (...) {
          report_error("link callback of greenlet '" + raw->name() + "'", std::current_exception());
        }
      });
    }
  } catch (...) {
    report_error("link callback of greenlet '" + name() + "'", std::current_exception());
  }
}

void GreenletBase::link(LinkFn fn) {
  if (finished_) return schedule_link(LinkKind::any, fn);
  links_.emplace_back(LinkKind::any, std::move(fn));
}
void GreenletBase::link_value(LinkFn fn) {
  if (finished_) return schedule_link(LinkKind::value, fn);
  links_.emplace_back(LinkKind::value, std::move(fn));
}
void GreenletBase::link_exception(LinkFn fn) {
  if (finished_) return schedule_link(LinkKind::exception, fn);
  links_.emplace_back(LinkKind::exception, std::move(fn));
}
void GreenletBase::rawlink(LinkFn fn) {
  if (finished_) {
    std::shared_ptr<GreenletBase> self = weak_from_this().lock();
    hub_->call_soon([self, raw = this, fn = std::move(fn)] {
      try {
        fn(*raw);
      } catch (...) {
        report_error("link callback of greenlet '" + raw->name() + "'", std::current_exception());
      }
    });
    return;
  }
  links_.emplace_back(LinkKind::raw, std::move(fn));
}

bool GreenletBase::join(std::optional<Duration> timeout) {
  hub_->check_thread("Greenlet::join");
  if (finished_) return true;
  detail::Fiber& self = hub_->current_fiber();
  if (&self == this) throw std::logic_error("gev: greenlet " + name() + " cannot join itself");
  struct Waiter final : detail::DeathWaiter {
    Hub* hub;
    detail::Fiber* fiber;
    bool done = false;
    void on_death(GreenletBase&) noexcept override {
      done = true;
      hub->unpark(*fiber);
    }
    ~Waiter() {
      if (linked()) detail::IntrusiveList::erase(*this);
    }
  } waiter;
  waiter.hub = hub_;
  waiter.fiber = &self;
  death_waiters_.push_back(waiter);
  ParkTimer timer(*hub_, self, timeout);
  while (!waiter.done) {
    if (timer.expired()) return false;
    hub_->park("join");
  }
  return true;
}

void GreenletBase::wait_for_result(std::optional<Duration> timeout) {
  if (timeout) {
    Timeout t{*timeout};
    join();
  } else {
    join();
  }
  if (exception_) std::rethrow_exception(exception_);
}

bool GreenletBase::kill(KillOptions options) {
  hub_->check_thread("Greenlet::kill");
  if (finished_) return true;
  std::exception_ptr error =
      options.exception ? options.exception : std::make_exception_ptr(GreenletExit());
  if (start_timer_armed_) {
    ev_timer_stop(hub_->loop(), &start_timer_);
    start_timer_armed_ = false;
  }
  if (!ran_ && (hub_->cancel_start(*this) || state() == State::created)) {
    // Never ran: it never will. It ends with the kill's exception; its links still fire.
    exception_ = error;
    try {
      std::rethrow_exception(error);
    } catch (const GreenletExit&) {
      killed_ = true;
    } catch (...) {
    }
    auto self = std::move(keep_alive_);
    finish();
    if (self) hub_->call_soon([self] {});  // release the hub's reference on the next turn
    return true;
  }
  if (&hub_->current_fiber() == this) std::rethrow_exception(error);
  hub_->interrupt(*this, error, true);
  if (!options.block) return finished_;
  return join(options.timeout);
}

void GreenletBase::fiber_abandon() noexcept {
  try {
    kill({.block = false});
  } catch (...) {
  }
}

GreenletBase* getcurrent() noexcept {
  Hub* hub = Hub::current_if_exists();
  if (!hub) return nullptr;
  // Inside a generator body: the greenlet the generator runs for (as in gevent).
  detail::Fiber* f = &hub->current_fiber();
  while (f->acting_for()) f = f->acting_for();
  return dynamic_cast<GreenletBase*>(f);
}

}  // namespace gev
