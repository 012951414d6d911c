#include "gev/hub/stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include "gev/hub/detail/asan.hpp"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GEV_VALGRIND 1
#else
#define GEV_VALGRIND 0
#endif

namespace gev {
namespace {

constexpr std::size_t kStacksPerSlab = 64;

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t round_to_pages(std::size_t bytes) noexcept {
  const std::size_t p = page_size();
  return (bytes + p - 1) / p * p;
}

std::size_t parse_size(const char* text) noexcept {
  if (!text || !*text) return 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text) return 0;
  if (end && (*end == 'k' || *end == 'K')) v <<= 10;
  if (end && (*end == 'm' || *end == 'M')) v <<= 20;
  return static_cast<std::size_t>(v);
}

std::size_t initial_default_stack_size() noexcept {
  if (const char* text = std::getenv("GEV_STACK_SIZE"); text && *text) {
    std::size_t env = parse_size(text);
    if (env >= kMinStackSize) return round_to_pages(env);
    std::fprintf(stderr, "gev: ignoring GEV_STACK_SIZE=%s (want bytes >= 16K, e.g. 512K or 2M)\n",
                 text);
  }
#if GEV_ASAN
  return 1024 * 1024;  // ASan's redzones make frames several times larger
#else
  return 256 * 1024;
#endif
}

std::atomic<std::size_t> g_default_stack_size{initial_default_stack_size()};

// Guard pages left in the process-wide budget. Each guard page adds two mappings.
std::atomic<std::ptrdiff_t>& guard_budget() noexcept {
  static std::atomic<std::ptrdiff_t> budget = [] {
    if (const char* env = std::getenv("GEV_GUARD_PAGES")) {
      return static_cast<std::ptrdiff_t>(std::strtoll(env, nullptr, 10));
    }
    long max_maps = 65530;
    std::ifstream in("/proc/sys/vm/max_map_count");
    in >> max_maps;
    return static_cast<std::ptrdiff_t>(std::max(0L, max_maps) / 4 / 2);  // 1/4 of the maps
  }();
  return budget;
}

bool take_guard_page() noexcept {
  auto& budget = guard_budget();
  std::ptrdiff_t left = budget.load(std::memory_order_relaxed);
  while (left > 0) {
    if (budget.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

}  // namespace

std::size_t default_stack_size() noexcept {
  return g_default_stack_size.load(std::memory_order_relaxed);
}

void set_default_stack_size(std::size_t bytes) {
  if (bytes < kMinStackSize) {
    throw std::invalid_argument("gev::set_default_stack_size: " + std::to_string(bytes) +
                                " bytes is below the 16 KiB minimum");
  }
  g_default_stack_size.store(round_to_pages(bytes), std::memory_order_relaxed);
}

namespace detail {

std::size_t guard_pages_left() noexcept {
  return static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, guard_budget().load()));
}

// The canary is the stack's lowest word, which is zero in every pooled stack: fresh and
// MADV_DONTNEED'd pages read as zero, and a fiber that dirtied it overflowed (and was reported).
// Reading it, unlike writing a canary, maps the shared zero page and commits no memory.
bool Stack::canary_intact() const noexcept {
  if (guarded || !bottom) return true;
  std::uint64_t v;
  std::memcpy(&v, bottom, sizeof v);
  return v == 0;
}

StackPool::~StackPool() {
  if (in_use_ != 0) return;  // fibers still hold stacks (abandoned at exit): leave them mapped
  for (auto& sc : classes_) {
    for (auto& s : sc.free) {
#if GEV_VALGRIND
      VALGRIND_STACK_DEREGISTER(s.valgrind_id);
#endif
      (void)s;
    }
  }
  for (const Slab& slab : slabs_) munmap(slab.base, slab.length);
}

std::size_t StackPool::stacks_cached() const noexcept {
  std::size_t n = 0;
  for (const auto& sc : classes_) n += sc.free.size();
  return n;
}

StackPool::SizeClass& StackPool::size_class(std::size_t size) {
  for (auto& sc : classes_) {
    if (sc.size == size) return sc;
  }
  classes_.push_back(SizeClass{size, {}, 0});
  return classes_.back();
}

void StackPool::carve_slab(SizeClass& sc) {
  const std::size_t page = page_size();
  const std::size_t stride = sc.size + page;  // each stack reserves room for a guard page
  // Fewer stacks per slab for big stacks, so a few huge stacks do not reserve gigabytes.
  const std::size_t count = std::clamp<std::size_t>((16u << 20) / stride, 1, kStacksPerSlab);
  const std::size_t length = stride * count;
  void* mem = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) {
    throw std::system_error(
        errno, std::generic_category(),
        "gev: mmap of a " + std::to_string(length >> 10) + " KiB stack slab failed");
  }
  madvise(mem, length, MADV_NOHUGEPAGE);
  slabs_.push_back(Slab{static_cast<char*>(mem), length});
  // Only called when the class has no free stack; push in reverse so the lowest goes out first.
  sc.free.reserve(count);
  for (std::size_t i = count; i-- > 0;) {
    char* base = static_cast<char*>(mem) + i * stride;
    Stack s;
    s.bottom = base + page;
    s.size = sc.size;
    s.guarded = take_guard_page() && mprotect(base, page, PROT_NONE) == 0;
#if GEV_VALGRIND
    s.valgrind_id = VALGRIND_STACK_REGISTER(s.bottom, s.bottom + s.size);
#endif
    sc.free.push_back(s);
  }
}

Stack StackPool::acquire(std::size_t size) {
  size = round_to_pages(size ? std::max(size, kMinStackSize) : default_stack_size());
  SizeClass& sc = size_class(size);
  if (sc.free.empty()) carve_slab(sc);
  Stack s = sc.free.back();
  sc.free.pop_back();
  if (sc.warm > 0) --sc.warm;
  ++in_use_;
  peak_in_use_ = std::max(peak_in_use_, in_use_);
  return s;
}

void StackPool::release(Stack s) noexcept {
  if (!s) return;
  // Frames of the dead fiber may still be poisoned; the next fiber must start clean.
  asan::unpoison(s.bottom, s.size);
  SizeClass* sc = nullptr;
  for (auto& c : classes_) {
    if (c.size == s.size) sc = &c;
  }
  --in_use_;
  if (!sc) return;  // cannot happen: every stack came from a class
  sc->free.push_back(s);
  ++sc->warm;
}

void StackPool::trim(std::uint64_t now_ns) noexcept {
  constexpr std::uint64_t kTrimInterval = 1'000'000'000;  // at most once a second
  if (now_ns - last_trim_ns_ < kTrimInterval) return;
  last_trim_ns_ = now_ns;
  // Keep as many warm stacks as half the recent peak in use (at least kWarmStacks); the peak
  // decays each trim, so memory from a one-off burst goes back within a few idle seconds.
  const std::size_t keep = std::max(kWarmStacks, peak_in_use_ / 2);
  peak_in_use_ = in_use_;
  for (auto& sc : classes_) {
    while (sc.warm > keep) {
      // The coldest warm stack; its addresses stay reserved for reuse.
      Stack& cold = sc.free[sc.free.size() - sc.warm];
      madvise(cold.bottom, cold.size, MADV_DONTNEED);
      --sc.warm;
    }
  }
}

}  // namespace detail
}  // namespace gev
