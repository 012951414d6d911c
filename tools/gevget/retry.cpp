#include "gevget/retry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <string>

namespace gevget {

bool retryable_status(int status) noexcept {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

std::optional<Seconds> parse_retry_after(std::string_view value, double now_epoch_seconds) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return Seconds(1e9);
    return Seconds(std::stod(std::string(value)));
  }
  // IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const double at = static_cast<double>(timegm(&tm));
  return Seconds(std::max(0.0, at - now_epoch_seconds));
}

Backoff::Backoff(Seconds base, Seconds cap, std::uint64_t seed)
    : base_(base), cap_(cap), random_(seed) {}

Seconds Backoff::next(int retry) {
  const double ceiling =
      std::min(cap_.count(), base_.count() * std::ldexp(1.0, std::clamp(retry, 0, 30)));
  std::uniform_real_distribution<double> pick(0.0, ceiling);
  return Seconds(pick(random_));
}

}  // namespace gevget
