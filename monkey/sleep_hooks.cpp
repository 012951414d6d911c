// sleep, usleep, nanosleep, clock_nanosleep: gev::sleep in a greenlet. glibc implements sleep and
// usleep with an internal nanosleep that no interposer sees, so each is hooked itself.
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <chrono>

#include "gev/monkey/detail/fd_wait.hpp"
#include "gev/monkey/detail/original.hpp"
#include "gev/runtime/sleep.hpp"

namespace {

using gev::monkey::detail::cooperative_hub;
using std::chrono::nanoseconds;

bool valid(const timespec* ts) {
  return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}

nanoseconds to_duration(const timespec& ts) {
  return std::chrono::seconds(ts.tv_sec) + nanoseconds(ts.tv_nsec);
}

}  // namespace

extern "C" {

unsigned int sleep(unsigned int seconds) {
  if (cooperative_hub() == nullptr) return GEV_REAL(sleep)(seconds);
  gev::sleep(std::chrono::seconds(seconds));
  return 0;
}

int usleep(useconds_t microseconds) {
  if (cooperative_hub() == nullptr) return GEV_REAL(usleep)(microseconds);
  gev::sleep(std::chrono::microseconds(microseconds));
  return 0;
}

int nanosleep(const timespec* duration, timespec* remaining) {
  if (cooperative_hub() == nullptr || duration == nullptr || !valid(duration)) {
    return GEV_REAL(nanosleep)(duration, remaining);  // EFAULT/EINVAL as libc reports them
  }
  gev::sleep(to_duration(*duration));
  if (remaining) *remaining = timespec{0, 0};
  return 0;
}

int clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining) {
  timespec now{};
  if (cooperative_hub() == nullptr || request == nullptr || !valid(request) ||
      (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME &&
       clock != CLOCK_TAI) ||
      ::clock_gettime(clock, &now) != 0) {
    return GEV_REAL(clock_nanosleep)(clock, flags, request, remaining);
  }
  if (!(flags & TIMER_ABSTIME)) {
    gev::sleep(to_duration(*request));
    if (remaining) *remaining = timespec{0, 0};
    return 0;
  }
  // Absolute: sleep until that clock reads `request` (re-read, since CLOCK_REALTIME may jump).
  for (int i = 0; i < 1000; ++i) {
    const nanoseconds left = to_duration(*request) - to_duration(now);
    if (left <= nanoseconds::zero()) break;
    gev::sleep(left);
    if (::clock_gettime(clock, &now) != 0) break;
  }
  return 0;
}

}  // extern "C"
