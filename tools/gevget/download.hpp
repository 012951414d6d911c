// The download engine: every URL in its own greenlet (at most -j at once, --per-host per
// server), written to NAME.part and renamed when complete and verified; retries, resume and
// split downloads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gev/http/client.hpp>
#include <gev/runtime/lock.hpp>
#include <gev/runtime/pool.hpp>

#include "gevget/file_names.hpp"
#include "gevget/options.hpp"
#include "gevget/rate_limiter.hpp"
#include "gevget/retry.hpp"

namespace gevget {

enum class Status { pending, ok, failed, skipped, interrupted };

// Why a download failed; decides the exit status.
enum class Failure { none, http, network, tls, checksum, local_file, interrupted };

struct Result {
  std::string url;
  std::string file;  // the path written (or that would have been)
  Status status = Status::pending;
  Failure failure = Failure::none;
  int http_status = 0;
  std::uint64_t bytes = 0;  // received in this run
  double seconds = 0;
  int attempts = 0;
  std::string error;

  void end(Status s, Failure f, std::string why) {
    status = s;
    failure = f;
    error = std::move(why);
  }
};

// What the progress display shows of one running download.
struct Transfer {
  std::string name;
  std::uint64_t size = 0;      // 0: not known yet
  std::uint64_t have = 0;      // bytes on disk, including resumed ones
  std::uint64_t received = 0;  // bytes received in this run
  std::chrono::steady_clock::time_point started;
};

class Downloader {
 public:
  explicit Downloader(const Options& options);
  Downloader(const Downloader&) = delete;
  Downloader& operator=(const Downloader&) = delete;
  ~Downloader();

  // Downloads every target (blocks the calling greenlet until all are done or stop() was
  // called). Results are in the targets' order.
  const std::vector<Result>& run();
  // Stops every download (from another greenlet, e.g. a signal handler): .part files and their
  // state stay for -c; unfinished results become `interrupted`.
  void stop();

  // For the progress display.
  const std::list<Transfer*>& active() const noexcept { return active_; }
  std::size_t finished() const noexcept { return finished_; }
  std::size_t total() const noexcept { return options_.targets.size(); }
  std::uint64_t bytes_received() const noexcept { return bytes_received_; }
  const std::vector<Result>& results() const noexcept { return results_; }
  // Called with each result as it becomes final.
  std::function<void(const Result&)> on_finish;

  struct Job;

 private:
  friend struct Job;
  void fetch(std::size_t index);
  gev::Semaphore* host_slot(const std::string& url);

  const Options& options_;
  gev::http::Client client_;
  RateLimiter limiter_;
  NameRegistry names_;
  std::vector<std::string> initial_names_;
  std::vector<Result> results_;
  std::list<Transfer*> active_;
  std::map<std::string, std::unique_ptr<gev::Semaphore>> host_slots_;
  std::size_t finished_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t seed_;
  bool stopping_ = false;
  std::unique_ptr<gev::Pool> pool_;
};

}  // namespace gevget
