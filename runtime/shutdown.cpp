#include "gev/runtime/shutdown.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "gev/runtime/joinall.hpp"
#include "gev/runtime/sleep.hpp"

namespace gev::detail {
namespace {

// Like Python's SystemExit: if main() lets the GreenletExit that shutdown threw into it escape,
// the program exits with status 0 instead of aborting.
std::atomic<bool> g_main_exit_requested{false};
std::terminate_handler g_previous_terminate = nullptr;

[[noreturn]] void exit_on_uncaught_greenlet_exit() {
  if (g_main_exit_requested.load()) {
    if (std::exception_ptr e = std::current_exception()) {
      try {
        std::rethrow_exception(e);
      } catch (const GreenletExit&) {
        std::fflush(nullptr);
        std::exit(0);
      } catch (...) {
      }
    }
  }
  if (g_previous_terminate) g_previous_terminate();
  std::abort();
}

void end_main_wait(Hub& hub) {
  static std::once_flag once;
  std::call_once(
      once, [] { g_previous_terminate = std::set_terminate(&exit_on_uncaught_greenlet_exit); });
  g_main_exit_requested.store(true);
  hub.interrupt(hub.main_fiber(), std::make_exception_ptr(GreenletExit()), true);
}

}  // namespace

void ShutdownFn::operator()(Duration grace) const {
  Hub& hub = Hub::current();
  if (hub.in_hub())
    throw BlockingSwitchOutError("gev::shutdown called inside the hub (a callback)");
  Fiber* self = &hub.current_fiber();

  // The main greenlet's wait at this moment; if it is still the same wait after the kills,
  // shutdown ends it too.
  Fiber& main = hub.main_fiber();
  const bool main_was_parked = self != &main && main.state() == Fiber::State::parked;
  const std::uint32_t main_park = main.park_count();

  // Kill what is alive now (gevent.killall semantics: a snapshot; what the kills spawn, such as
  // link callbacks, runs normally).
  GreenletList greenlets;
  std::vector<Fiber*> others;
  hub.for_each_greenlet([&](Fiber& f) {
    if (&f == self) return;
    if (auto* g = dynamic_cast<GreenletBase*>(&f)) {
      if (auto ref = g->weak_from_this().lock()) {
        greenlets.push_back(std::move(ref));
        return;
      }
    }
    others.push_back(&f);
  });
  for (Fiber* f : others) f->fiber_abandon();
  killall(greenlets, {.block = true, .timeout = grace});
  if (!others.empty()) gev::sleep(Duration::zero());

  std::size_t alive = 0;
  for (const auto& g : greenlets) alive += g->ready() ? 0 : 1;
  if (alive > 0) {
    std::fprintf(stderr, "gev::shutdown: %zu greenlet(s) still alive after the grace period: %s\n",
                 alive, hub.describe_fibers(10).c_str());
  }
  if (main_was_parked && main.state() == Fiber::State::parked && main.park_count() == main_park &&
      main.parked_on() && std::string_view(main.parked_on()) != "wait()") {
    end_main_wait(hub);
  }
}

}  // namespace gev::detail
