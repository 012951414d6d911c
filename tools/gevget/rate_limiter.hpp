// --limit-rate: one token bucket shared by every download of the run.
#pragma once

#include <chrono>
#include <cstdint>

namespace gevget {

class RateLimiter {
 public:
  explicit RateLimiter(std::uint64_t bytes_per_second);  // 0: unlimited
  // Accounts for n bytes received; parks the calling greenlet while the run is ahead of the
  // rate.
  void consume(std::uint64_t n);

 private:
  double rate_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace gevget
