#include "gev/hub/waits.hpp"

#include <ev.h>
#include <signal.h>

#include <mutex>
#include <stdexcept>
#include <string>

#include "gev/hub/error_hook.hpp"
#include "gev/hub/park_timer.hpp"

namespace gev {
namespace {

struct FdWait {
  ev_io io;
  Hub* hub;
  detail::Fiber* fiber;
  int fired = 0;
};

void on_fd(struct ev_loop*, ev_io* w, int revents) noexcept {
  auto* wait = static_cast<FdWait*>(w->data);
  wait->fired |= revents & (EV_READ | EV_WRITE);
  wait->hub->unpark(*wait->fiber);
}

struct SigWait {
  ev_signal sig;
  Hub* hub;
  detail::Fiber* fiber;
  bool fired = false;
};

// libev lets one loop at a time watch a signal. Track which hub owns each signal.
std::mutex g_signal_mutex;
struct SignalOwner {
  Hub* hub = nullptr;
  int watchers = 0;
  struct sigaction previous;  // the disposition before gev's first watcher, restored after the last
};
SignalOwner g_signal_owners[NSIG];

void claim_signal(Hub& hub, int signum) {
  if (signum <= 0 || signum >= NSIG) {
    throw std::invalid_argument("gev: invalid signal number " + std::to_string(signum));
  }
  std::lock_guard lock(g_signal_mutex);
  SignalOwner& owner = g_signal_owners[signum];
  if (owner.hub && owner.hub != &hub) {
    throw std::logic_error("gev: signal " + std::to_string(signum) +
                           " is already watched by another thread's hub; libev allows one");
  }
  if (owner.watchers == 0) sigaction(signum, nullptr, &owner.previous);
  owner.hub = &hub;
  ++owner.watchers;
}

void release_signal(int signum) noexcept {
  std::lock_guard lock(g_signal_mutex);
  SignalOwner& owner = g_signal_owners[signum];
  if (--owner.watchers == 0) {
    owner.hub = nullptr;
    sigaction(signum, &owner.previous, nullptr);  // libev's stop left SIG_DFL
  }
}

}  // namespace

int wait_fd(int fd, int events, std::optional<Duration> timeout) {
  Hub& hub = Hub::current();
  detail::Fiber& self = hub.current_fiber();
  FdWait wait;
  wait.hub = &hub;
  wait.fiber = &self;
  ev_io_init(&wait.io, &on_fd, fd, events & (EV_READ | EV_WRITE));
  wait.io.data = &wait;
  ev_io_start(hub.loop(), &wait.io);
  struct Stop {
    Hub& hub;
    ev_io& io;
    ~Stop() { ev_io_stop(hub.loop(), &io); }
  } stop{hub, wait.io};
  ParkTimer timer(hub, self, timeout);
  while (!wait.fired) {
    if (timer.expired()) return 0;
    hub.park("wait_fd");
  }
  return wait.fired;
}

bool wait_signal(int signum, std::optional<Duration> timeout) {
  Hub& hub = Hub::current();
  claim_signal(hub, signum);
  struct Release {
    int signum;
    ~Release() { release_signal(signum); }
  } release{signum};
  detail::Fiber& self = hub.current_fiber();
  SigWait wait;
  wait.hub = &hub;
  wait.fiber = &self;
  ev_signal_init(
      &wait.sig,
      [](struct ev_loop*, ev_signal* w, int) noexcept {
        auto* sw = static_cast<SigWait*>(w->data);
        sw->fired = true;
        sw->hub->unpark(*sw->fiber);
      },
      signum);
  wait.sig.data = &wait;
  ev_signal_start(hub.loop(), &wait.sig);
  struct Stop {
    Hub& hub;
    ev_signal& sig;
    ~Stop() { ev_signal_stop(hub.loop(), &sig); }
  } stop{hub, wait.sig};
  ParkTimer timer(hub, self, timeout);
  while (!wait.fired) {
    if (timer.expired()) return false;
    hub.park("wait_signal");
  }
  return true;
}

SignalWatch::SignalWatch(Hub& hub, int signum, std::function<void()> on_signal_fn, bool referenced)
    : hub_(hub), signum_(signum), referenced_(referenced), callback_(std::move(on_signal_fn)) {
  hub.check_thread("SignalWatch");
  claim_signal(hub, signum);
  ev_signal_init(&watcher_, &SignalWatch::on_signal, signum);
  watcher_.data = this;
  ev_signal_start(hub.loop(), &watcher_);
  if (!referenced_) {
    ev_unref(hub.loop());
    hub.note_unreferenced_watcher(+1);
  }
}

SignalWatch::~SignalWatch() {
  if (!referenced_) {
    ev_ref(hub_.loop());
    hub_.note_unreferenced_watcher(-1);
  }
  ev_signal_stop(hub_.loop(), &watcher_);
  release_signal(signum_);
}

void SignalWatch::on_signal(struct ev_loop*, ev_signal* w, int) noexcept {
  auto* self = static_cast<SignalWatch*>(w->data);
  try {
    self->callback_();
  } catch (...) {
    report_error("signal handler", std::current_exception());
  }
}

}  // namespace gev
