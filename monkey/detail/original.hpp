// The next definition of a libc function after gev::monkey's own (dlsym(RTLD_NEXT)), resolved on
// first use and cached in an atomic, so a hook works even when it is called before this library's
// constructors ran (by another library's constructor).
#pragma once

#include <atomic>

namespace gev::monkey::detail {

// dlsym(RTLD_NEXT, name); prints a message and aborts when libc has no such symbol.
void* next_symbol(const char* name) noexcept;

template <class Fn>
Fn resolve_next(std::atomic<void*>& slot, const char* name) noexcept {
  void* p = slot.load(std::memory_order_acquire);
  if (p == nullptr) [[unlikely]] {
    p = next_symbol(name);
    slot.store(p, std::memory_order_release);
  }
  return reinterpret_cast<Fn>(p);
}

}  // namespace gev::monkey::detail

// REAL(read)(fd, buf, n): the libc function behind the hook.
#define GEV_REAL(name)                                                          \
  ([]() noexcept {                                                              \
    static std::atomic<void*> slot{nullptr};                                    \
    return ::gev::monkey::detail::resolve_next<decltype(&::name)>(slot, #name); \
  }())
