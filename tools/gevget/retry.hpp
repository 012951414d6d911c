// When and how long to wait before trying a download again.
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <string_view>

namespace gevget {

using Seconds = std::chrono::duration<double>;

// Whether an HTTP status is worth another attempt: 408, 429, 500, 502, 503, 504.
bool retryable_status(int status) noexcept;

// Retry-After: delta-seconds or an HTTP-date (relative to `now`, seconds since the epoch).
// nullopt when absent or unreadable; never negative.
std::optional<Seconds> parse_retry_after(std::string_view value, double now_epoch_seconds);

// Full-jitter exponential back-off: uniform in [0, base * 2^retry], at most `cap`.
class Backoff {
 public:
  Backoff(Seconds base, Seconds cap, std::uint64_t seed);
  Seconds next(int retry);

 private:
  Seconds base_, cap_;
  std::mt19937_64 random_;
};

}  // namespace gevget
