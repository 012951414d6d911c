// AddressSanitizer fiber-switch annotations. ASan must be told before every switch which stack
// the thread is about to run on, or it reports false stack-buffer-overflows and, worse,
// unpoisons the wrong memory when an exception unwinds. Compiled to nothing without ASan.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define GEV_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define GEV_ASAN 0
#endif

namespace gev::detail::asan {

// `fake_stack_save` is nullptr when the fiber we leave will never run again.
inline void start_switch(void** fake_stack_save, const void* bottom, std::size_t size) noexcept {
#if GEV_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}

inline void finish_switch(void* fake_stack, const void** old_bottom,
                          std::size_t* old_size) noexcept {
#if GEV_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, old_bottom, old_size);
#else
  (void)fake_stack, (void)old_bottom, (void)old_size;
#endif
}

inline void unpoison(const void* addr, std::size_t size) noexcept {
#if GEV_ASAN
  ASAN_UNPOISON_MEMORY_REGION(addr, size);
#else
  (void)addr, (void)size;
#endif
}

}  // namespace gev::detail::asan
