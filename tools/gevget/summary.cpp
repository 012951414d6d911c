#include "gevget/summary.hpp"

#include <cinttypes>
#include <cstdio>

namespace gevget {

namespace {

const char* status_name(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::failed:
      return "failed";
    case Status::skipped:
      return "skipped";
    case Status::interrupted:
      return "interrupted";
    case Status::pending:
      break;
  }
  return "interrupted";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

struct Counts {
  std::size_t ok = 0, failed = 0, skipped = 0, interrupted = 0;  // pending counts as interrupted
  std::uint64_t bytes = 0;
};

Counts count(const std::vector<Result>& results) {
  Counts c;
  for (const Result& r : results) {
    c.bytes += r.bytes;
    c.ok += r.status == Status::ok;
    c.failed += r.status == Status::failed;
    c.skipped += r.status == Status::skipped;
    c.interrupted += r.status == Status::interrupted || r.status == Status::pending;
  }
  return c;
}

}  // namespace

int exit_status_of(const std::vector<Result>& results, int signal) {
  if (signal != 0) return exit_status::interrupted_base + signal;
  bool failed = false, local = false, tls = false, checksum = false;
  for (const Result& r : results) {
    if (r.status == Status::ok || r.status == Status::skipped) continue;
    failed = true;
    local = local || r.failure == Failure::local_file;
    tls = tls || r.failure == Failure::tls;
    checksum = checksum || r.failure == Failure::checksum;
  }
  if (tls) return exit_status::tls;
  if (checksum) return exit_status::checksum;
  if (local) return exit_status::local_file;
  return failed ? exit_status::failed : exit_status::ok;
}

std::string human_bytes(double bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

void print_summary(std::FILE* out, const std::vector<Result>& results, double seconds,
                   bool failures_only) {
  const auto [ok, failed, skipped, interrupted, bytes] = count(results);
  for (const Result& r : results) {
    if (r.status == Status::failed) {
      std::fprintf(out, "gevget: FAILED %s: %s (after %d attempt%s)\n", r.url.c_str(),
                   r.error.c_str(), r.attempts, r.attempts == 1 ? "" : "s");
    }
  }
  if (failures_only) return;
  // A few skips are named; a re-run over a finished batch just counts them.
  if (skipped <= 5) {
    for (const Result& r : results) {
      if (r.status == Status::skipped) {
        std::fprintf(out, "gevget: skipped %s: %s\n", r.url.c_str(), r.error.c_str());
      }
    }
  } else {
    std::fprintf(out, "gevget: skipped %zu URLs whose files exist (--overwrite replaces them)\n",
                 skipped);
  }
  std::fprintf(out, "gevget: %zu ok, %zu failed, %zu skipped", ok, failed, skipped);
  if (interrupted > 0)
    std::fprintf(out, ", %zu interrupted (.part files kept for -c)", interrupted);
  const double rate = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
  std::fprintf(out, "; %s in %.2f s (%s/s)\n", human_bytes(static_cast<double>(bytes)).c_str(),
               seconds, human_bytes(rate).c_str());
}

std::string json_summary(const std::vector<Result>& results, double seconds, int exit_status) {
  const auto [ok, failed, skipped, interrupted, bytes] = count(results);
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"ok\": %zu, \"failed\": %zu, \"skipped\": %zu, \"interrupted\": %zu, "
                "\"bytes\": %" PRIu64
                ", \"seconds\": %.3f, \"exit_status\": %d,\n \"downloads\": [",
                ok, failed, skipped, interrupted, bytes, seconds, exit_status);
  std::string out = buf;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    out += i == 0 ? "\n  " : ",\n  ";
    out += "{\"url\": " + json_string(r.url) + ", \"file\": " + json_string(r.file) +
           ", \"status\": \"" + status_name(r.status) + "\"";
    std::snprintf(buf, sizeof buf,
                  ", \"http_status\": %d, \"bytes\": %" PRIu64
                  ", \"seconds\": %.3f, \"attempts\": %d, \"error\": ",
                  r.http_status, r.bytes, r.seconds, r.attempts);
    out += buf;
    out += r.status == Status::ok || r.error.empty() ? "null" : json_string(r.error);
    out += "}";
  }
  out += "]}\n";
  return out;
}

}  // namespace gevget
