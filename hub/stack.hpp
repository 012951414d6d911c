// Fiber stacks: mmap'd in slabs, lazily committed, pooled and reused.
//
// Layout of one stack (addresses grow upward):
//
//   [guard page (PROT_NONE) | usable stack ........................... top]
//    ^ only while the guard budget lasts         fibers start at top and grow down
//
// vm.max_map_count (65530 by default) limits how many mappings a process may have, and every
// guard page splits its slab into two more. So guard pages are handed out from a process-wide
// budget (a quarter of max_map_count by default, GEV_GUARD_PAGES overrides); stacks beyond the
// budget rely on a canary instead: their lowest word must still be zero each time the fiber
// parks or dies (reading it commits no memory, unlike writing a canary).
// Slabs are madvise(MADV_NOHUGEPAGE) so touching one byte never commits 2 MiB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gev {

/// The smallest fiber stack size, in bytes (16 KiB).
inline constexpr std::size_t kMinStackSize = 16 * 1024;
/// Process-wide default stack size (256 KiB; 1 MiB under AddressSanitizer, whose frames are
/// larger). GEV_STACK_SIZE (bytes, or with a K/M suffix) overrides it at start-up. Every stack
/// is at least kMinStackSize; sizes are rounded up to whole pages.
std::size_t default_stack_size() noexcept;
/// Sets the default stack size (rounded up to whole pages). Throws std::invalid_argument below
/// kMinStackSize.
void set_default_stack_size(std::size_t bytes);

/// @cond INTERNAL
namespace detail {

struct Stack {
  char* bottom = nullptr;  // lowest usable address
  std::size_t size = 0;    // usable bytes
  bool guarded = false;    // a PROT_NONE page sits right below `bottom`
  unsigned valgrind_id = 0;

  char* top() const noexcept { return bottom + size; }
  explicit operator bool() const noexcept { return bottom != nullptr; }
  bool canary_intact() const noexcept;
};

// Per-hub pool (single-threaded; each hub has its own).
class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  Stack acquire(std::size_t size);
  void release(Stack stack) noexcept;

  std::size_t stacks_in_use() const noexcept { return in_use_; }
  std::size_t stacks_cached() const noexcept;

  // Released stacks stay committed ("warm") so the next spawns reuse hot pages without page
  // faults. The hub calls trim() when it is about to sleep; it returns the memory of warm
  // stacks beyond half the recent peak in use (at least kWarmStacks) with MADV_DONTNEED.
  static constexpr std::size_t kWarmStacks = 256;
  void trim(std::uint64_t now_ns) noexcept;

 private:
  struct SizeClass {
    std::size_t size;
    std::vector<Stack> free;
    std::size_t warm = 0;  // how many of `free` (the most recently released) are still committed
  };
  struct Slab {
    char* base;
    std::size_t length;
  };
  SizeClass& size_class(std::size_t size);
  void carve_slab(SizeClass& sc);

  std::vector<SizeClass> classes_;
  std::vector<Slab> slabs_;
  std::size_t in_use_ = 0;
  std::size_t peak_in_use_ = 0;
  std::uint64_t last_trim_ns_ = 0;
};

// How many guard pages may still be handed out (process-wide).
std::size_t guard_pages_left() noexcept;

}  // namespace detail
/// @endcond
}  // namespace gev
