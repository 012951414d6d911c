#include "gevget/rate_limiter.hpp"

#include <algorithm>

#include <gev/runtime/sleep.hpp>

namespace gevget {

RateLimiter::RateLimiter(std::uint64_t bytes_per_second)
    : rate_(static_cast<double>(bytes_per_second)),
      tokens_(0),
      last_(std::chrono::steady_clock::now()) {}

void RateLimiter::consume(std::uint64_t n) {
  if (rate_ <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  // Refill, with a burst of at most a quarter second of traffic.
  tokens_ =
      std::min(rate_ / 4, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
  last_ = now;
  tokens_ -= static_cast<double>(n);
  if (tokens_ < 0) {
    // The debt is paid by waiting; other greenlets keep running (and their reads queue in the
    // kernel, which is what slows the senders down).
    gev::sleep(
        std::chrono::duration_cast<gev::Duration>(std::chrono::duration<double>(-tokens_ / rate_)));
  }
}

}  // namespace gevget
