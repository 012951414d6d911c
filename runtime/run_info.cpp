#include "gev/runtime/run_info.hpp"

#include <cxxabi.h>
#include <execinfo.h>
#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>

#include "gev/hub/hub.hpp"

namespace gev {
namespace {

const char* state_text(detail::Fiber::State s) noexcept {
  switch (s) {
    case detail::Fiber::State::created:
      return "not started";
    case detail::Fiber::State::ready:
      return "ready";
    case detail::Fiber::State::running:
      return "running";
    case detail::Fiber::State::parked:
      return "parked";
    case detail::Fiber::State::dead:
      return "dead";
  }
  return "?";
}

// "/lib/x.so(_ZN3gev5spawnEv+0x1f) [0x7f..]" -> "gev::spawn()+0x1f (/lib/x.so)"
std::string pretty_frame(const char* raw) {
  std::string s(raw);
  const auto open = s.find('(');
  const auto plus = s.find('+', open == std::string::npos ? 0 : open);
  const auto close = s.find(')', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return s;
  std::string object = s.substr(0, open);
  std::string offset;
  std::string symbol;
  if (plus != std::string::npos && plus < close) {
    symbol = s.substr(open + 1, plus - open - 1);
    offset = s.substr(plus, close - plus);
  } else {
    symbol = s.substr(open + 1, close - open - 1);
  }
  if (symbol.empty()) {
    // No dynamic symbol (an executable built without -rdynamic): object+offset, for addr2line.
    return object + "(" + offset + ")";
  }
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status), &std::free);
  if (status == 0 && demangled) symbol = demangled.get();
  return symbol + offset + " (" + object + ")";
}

}  // namespace

std::string format_frames(void* const* frames, int depth, int skip, int max_frames) {
  std::string out;
  if (depth <= skip) return out;
  const int n = std::min(depth - skip, max_frames);
  std::unique_ptr<char*, void (*)(void*)> symbols(backtrace_symbols(frames + skip, n), &std::free);
  for (int i = 0; i < n; ++i) {
    out += "      #" + std::to_string(i) + " ";
    if (symbols) {
      out += pretty_frame(symbols.get()[i]);
    } else {
      char addr[32];
      std::snprintf(addr, sizeof addr, "%p", frames[skip + i]);
      out += addr;
    }
    out += '\n';
  }
  if (depth - skip > n) out += "      ...\n";
  return out;
}

std::string format_run_info(const RunInfoOptions& options) {
  Hub& hub = Hub::current();
  hub.check_thread("gev::format_run_info");
  std::ostringstream out;
  detail::Fiber& current = hub.current_fiber();
  out << "gev run info: hub of thread 0x" << std::hex << static_cast<unsigned long>(pthread_self())
      << std::dec << ": " << hub.live_greenlets() << " live greenlet(s), " << hub.ready_count()
      << " ready, " << hub.switch_count() << " switches so far\n";

  auto current_backtrace = [&] {
    if (!options.current_backtrace) return;
    void* frames[64];
    const int depth = backtrace(frames, 64);
    out << "    backtrace (the caller of format_run_info):\n"
        << format_frames(frames, depth, 1, options.max_frames);
  };

  // The main greenlet first.
  detail::Fiber& main = hub.main_fiber();
  out << "  main: " << state_text(main.state());
  if (main.state() == detail::Fiber::State::parked && main.parked_on()) {
    out << " in " << main.parked_on();
  }
  if (&main == &current) out << " (current)";
  out << "\n";
  if (&main == &current) current_backtrace();

  hub.for_each_greenlet([&](detail::Fiber& f) {
    auto* g = dynamic_cast<GreenletBase*>(&f);
    if (g) {
      out << "  Greenlet '" << g->name() << "' #" << g->id() << ": ";
    } else {
      out << "  fiber '" << f.fiber_name() << "': ";
    }
    out << state_text(f.state());
    if (f.state() == detail::Fiber::State::parked && f.parked_on()) out << " in " << f.parked_on();
    if (&f == &current) out << " (current)";
    if (g) {
      out << "; parent: ";
      if (g->parent_id() != 0) {
        out << "Greenlet '" << g->parent_name() << "' #" << g->parent_id();
      } else {
        out << g->parent_name();
      }
      if (g->started() && !g->ready() && f.state() == detail::Fiber::State::created) {
        out << "; start pending";
      }
    }
    out << "\n";
    if (g && options.spawn_sites) {
      if (const detail::SpawnSite* site = g->spawn_site()) {
        // Frames 0 and 1 are the capture itself and GreenletBase's constructor.
        out << "    spawned at:\n"
            << format_frames(site->frames, site->depth, 2, options.max_frames);
      }
    }
    if (&f == &current) current_backtrace();
  });
  if (hub.live_greenlets() == 0) out << "  (no other greenlets)\n";
  if (!track_spawn_site() && options.spawn_sites) {
    out << "  (spawn sites: not tracked; gev::set_track_spawn_site(true) or GEV_TRACK_SPAWN=1)\n";
  }
  return out.str();
}

}  // namespace gev
