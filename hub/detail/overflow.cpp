#include "gev/hub/detail/overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "gev/hub/fiber.hpp"

namespace gev::detail {
// Defined in hub.cpp: the running fiber of this thread's hub, or nullptr. Async-signal-safe.
const Fiber* running_fiber_for_signal() noexcept;
}  // namespace gev::detail

namespace gev::detail::overflow {
namespace {

constexpr std::size_t kAltStackSize = 64 * 1024;
// A frame bigger than the guard page can jump past it; treat faults this far below as overflow.
constexpr std::size_t kJumpSlack = 64 * 1024;

struct sigaction g_old_segv;
struct sigaction g_old_bus;

struct AltStack {
  void* memory = nullptr;
  stack_t previous{};
};

void write_all(const char* s, std::size_t n) noexcept {
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void write_str(const char* s) noexcept {
  write_all(s, std::strlen(s));
}

void write_number(std::size_t v) noexcept {
  char buf[24];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  write_all(p, static_cast<std::size_t>(buf + sizeof buf - p));
}

void chain(int sig, siginfo_t* info, void* uctx) noexcept {
  const struct sigaction& old = sig == SIGBUS ? g_old_bus : g_old_segv;
  if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction) {
    old.sa_sigaction(sig, info, uctx);
    return;
  }
  if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler) {
    old.sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);  // returning re-executes the faulting access under the default action
}

void on_fault(int sig, siginfo_t* info, void* uctx) noexcept {
  const Fiber* f = running_fiber_for_signal();
  if (f && f->stack().bottom) {
    const Stack& s = f->stack();
    const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    const auto bottom = reinterpret_cast<std::uintptr_t>(s.bottom);
    const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    if (addr < bottom && addr + page + kJumpSlack >= bottom) {
      char name[128];
      std::size_t n = f->fiber_name_into(name, sizeof name);
      write_str("gev: stack overflow in greenlet ");
      write_all(name, n);
      write_str(" (stack of ");
      write_number(s.size >> 10);
      write_str(" KiB; raise SpawnOptions::stack_size or GEV_STACK_SIZE)\n");
      signal(sig, SIG_DFL);  // die of the SIGSEGV, as the program would have
      return;
    }
  }
  chain(sig, info, uctx);
}

}  // namespace

// (Re)installs the reporter for one signal unless it is already there: a program (or a test
// framework) that saved and restored SIGSEGV since the last hub was created gets it back, and
// whatever handler it set becomes the one faults are chained to.
void install_handler(int sig, struct sigaction& previous) noexcept {
  struct sigaction current;
  sigaction(sig, nullptr, &current);
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == &on_fault) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = &on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, &previous);
}

void* install_for_thread() noexcept {
  {
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    install_handler(SIGSEGV, g_old_segv);
    install_handler(SIGBUS, g_old_bus);
  }
  auto* alt = new AltStack;
  alt->memory =
      mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (alt->memory == MAP_FAILED) {
    delete alt;
    return nullptr;
  }
  stack_t ss{};
  ss.ss_sp = alt->memory;
  ss.ss_size = kAltStackSize;
  if (sigaltstack(&ss, &alt->previous) != 0) {
    munmap(alt->memory, kAltStackSize);
    delete alt;
    return nullptr;
  }
  return alt;
}

void uninstall_for_thread(void* handle) noexcept {
  auto* alt = static_cast<AltStack*>(handle);
  if (!alt) return;
  stack_t current{};
  sigaltstack(nullptr, &current);
  if (current.ss_sp == alt->memory) {
    if (alt->previous.ss_sp && !(alt->previous.ss_flags & SS_DISABLE)) {
      sigaltstack(&alt->previous, nullptr);
    } else {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      sigaltstack(&off, nullptr);
    }
  }
  munmap(alt->memory, kAltStackSize);
  delete alt;
}

}  // namespace gev::detail::overflow
