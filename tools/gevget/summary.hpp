// The end of a run: the exit status, the summary for people and the JSON one for programs.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "gevget/download.hpp"

namespace gevget {

namespace exit_status {
constexpr int ok = 0;
constexpr int failed = 1;
constexpr int usage = 2;
constexpr int local_file = 3;
constexpr int tls = 4;
constexpr int checksum = 5;
constexpr int interrupted_base = 128;  // + the signal
}  // namespace exit_status

// 0 when every URL is ok or skipped; otherwise the most serious failure's status (see
// docs/gevget.md). `signal` is the signal that interrupted the run, or 0.
int exit_status_of(const std::vector<Result>& results, int signal);

// "12.3 MiB", "512 B".
std::string human_bytes(double bytes);

// The closing lines: counts, bytes, time, and every failed URL with its reason.
void print_summary(std::FILE* out, const std::vector<Result>& results, double seconds,
                   bool failures_only);

// The machine-readable summary (docs/gevget.md shows its shape).
std::string json_summary(const std::vector<Result>& results, double seconds, int exit_status);

}  // namespace gevget
