#include "gevget/download.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <openssl/evp.h>

#include <gev/hub/errors.hpp>
#include <gev/runtime/greenlet.hpp>
#include <gev/runtime/joinall.hpp>
#include <gev/runtime/sleep.hpp>

#include "gevget/part_file.hpp"

namespace gevget {

namespace {

using Clock = std::chrono::steady_clock;
using gev::http::ClientError;
using gev::http::ClientResponse;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One attempt went wrong; whether another may help is decided by its kind.
struct AttemptFailed : std::runtime_error {
  AttemptFailed(Failure kind, bool retryable, const std::string& what, int http_status = 0)
      : std::runtime_error(what), kind(kind), retryable(retryable), http_status(http_status) {}
  Failure kind;
  bool retryable;
  int http_status;
  std::optional<Seconds> retry_after;
  bool restart = false;  // what is on disk cannot be continued: start from zero
};

struct Skipped {
  std::string reason;
};
struct Aborted {};  // another worker of the same split download failed

// The library's message without its "gev::http: gev::net: " prefixes: the user ran gevget.
std::string for_people(std::string what) {
  for (const char* prefix : {"gev::http: ", "gev::net::ssl: ", "gev::net: "}) {
    if (what.rfind(prefix, 0) == 0) what.erase(0, std::strlen(prefix));
  }
  return what;
}

AttemptFailed from_client_error(const ClientError& e) {
  using K = ClientError::Kind;
  const std::string what = for_people(e.what());
  switch (e.kind()) {
    case K::connect:
    case K::timeout:
    case K::protocol:
    case K::truncated:
      return AttemptFailed(Failure::network, true, what);
    case K::tls:
      return AttemptFailed(Failure::tls, false, what);
    case K::proxy:
      return AttemptFailed(Failure::network, false, what);
    default:  // invalid_url, too_large, too_many_redirects, insecure_redirect
      return AttemptFailed(Failure::http, false, what);
  }
}

struct ContentRange {
  std::uint64_t first = 0, last = 0;
  std::optional<std::uint64_t> total;  // "*": unknown
};

// "bytes 100-199/1000", "bytes 100-199/*"; "bytes */1000" gives first > last.
std::optional<ContentRange> parse_content_range(std::string_view v) {
  if (v.rfind("bytes ", 0) != 0) return std::nullopt;
  v.remove_prefix(6);
  ContentRange r;
  auto number = [&](std::uint64_t& out) {
    std::size_t i = 0;
    out = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9' && i < 19) out = out * 10 + (v[i++] - '0');
    if (i == 0) return false;
    v.remove_prefix(i);
    return true;
  };
  if (!v.empty() && v[0] == '*') {
    v.remove_prefix(1);
    r.first = 1;
    r.last = 0;
  } else {
    if (!number(r.first) || v.empty() || v[0] != '-') return std::nullopt;
    v.remove_prefix(1);
    if (!number(r.last) || r.last < r.first) return std::nullopt;
  }
  if (v.empty() || v[0] != '/') return std::nullopt;
  v.remove_prefix(1);
  if (v == "*") return r;
  std::uint64_t total = 0;
  if (!number(total) || !v.empty()) return std::nullopt;
  r.total = total;
  return r;
}

std::optional<std::uint64_t> content_length(const ClientResponse& r) {
  const std::string_view v = r.header("Content-Length");
  if (v.empty() || v.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

std::string hex(const unsigned char* data, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}

std::system_error file_error(const std::string& what, const std::string& path) {
  return std::system_error(errno, std::generic_category(), what + " " + path);
}

// SHA-256 of a file, read in large blocks (the file is in the page cache: we just wrote it).
std::string sha256_of(int fd, const std::string& path) {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("cannot initialise SHA-256 (OpenSSL)");
  }
  std::vector<char> buf(1 << 20);
  off_t at = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw file_error("cannot read", path);
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
    at += n;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return hex(md, len);
}

}  // namespace

// One URL: its file, its state on disk, and its attempts.
struct Downloader::Job {
  Downloader& d;
  const Options& o;
  const Target& target;
  Result& result;
  std::string name;
  std::string final_path, part_path, state_path;
  bool name_fixed;
  int fd = -1;
  PartState state;
  std::uint64_t have = 0;  // one stream: bytes on disk, contiguous from 0
  bool state_saved = false;
  Clock::time_point last_save = Clock::now();
  Transfer transfer;
  Backoff backoff;
  // A split download's workers (this greenlet and helpers) share the segment queue.
  std::vector<bool> taken;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> helpers;
  std::optional<AttemptFailed> helper_error;
  bool abort_split = false;

  Job(Downloader& d, std::size_t index)
      : d(d),
        o(d.options_),
        target(o.targets[index]),
        result(d.results_[index]),
        name(d.initial_names_[index]),
        name_fixed(!target.output_name.empty()),
        backoff(o.retry_wait, Seconds(30), d.seed_ + index) {
    set_paths();
    transfer.name = name;
    transfer.started = Clock::now();
    state.url = target.url;
  }
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  ~Job() {
    try {
      stop_helpers();
    } catch (...) {  // killed again while stopping them: they die with the hub
    }
    if (fd >= 0) ::close(fd);
  }

  void set_paths() {
    final_path = (std::filesystem::path(o.directory) / name).string();
    part_path = final_path + ".part";
    state_path = part_path + ".gevget";
    result.file = final_path;
  }

  bool exists(const std::string& path) const {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  gev::http::RequestOptions request_options() const {
    gev::http::RequestOptions ro;
    ro.headers = o.headers;
    ro.connect_timeout = std::chrono::duration_cast<gev::http::Duration>(o.connect_timeout);
    ro.read_timeout = std::chrono::duration_cast<gev::http::Duration>(o.timeout);
    ro.max_redirects = o.max_redirects;
    ro.decompress = false;  // the file as the server has it, so that ranges line up
    ro.max_body_bytes = ~std::uint64_t{0};
    ro.user_agent = o.user_agent;
    return ro;
  }

  void account(std::size_t n) {
    result.bytes += n;
    d.bytes_received_ += n;
    transfer.have += n;
    transfer.received += n;
    d.limiter_.consume(n);
  }

  // --- the whole download -------------------------------------------------------------------

  void run() {
    if (!o.overwrite && exists(final_path)) {
      throw Skipped{final_path + " exists (use --overwrite to replace it)"};
    }
    if (o.resume) load_previous();
    for (int retry = 0;; ++retry) {
      ++result.attempts;
      try {
        if (!state.segments.empty()) {
          run_split();
        } else {
          attempt_stream();
        }
        finalize();
        return;
      } catch (AttemptFailed& e) {
        stop_helpers();
        result.error = e.what();
        result.failure = e.kind;
        if (e.http_status != 0) result.http_status = e.http_status;
        if (e.restart) restart_from_zero();
        if (!e.retryable || retry >= o.retries) throw;
        Seconds wait = backoff.next(retry);
        if (e.retry_after) wait = std::min(*e.retry_after, Seconds(60));
        gev::sleep(std::chrono::duration_cast<gev::Duration>(wait));
      }
    }
  }

  // -c: continue NAME.part, trusting its state file only if it is about this URL.
  void load_previous() {
    struct stat st;
    if (::stat(part_path.c_str(), &st) != 0) return;
    auto previous = load_part_state(state_path);
    if (previous && previous->url == target.url) {
      state = *previous;
      if (!state.segments.empty() &&
          (!state.total || static_cast<std::uint64_t>(st.st_size) != *state.total)) {
        state.segments.clear();  // a split map that does not match the file: start again
        return;
      }
    } else {
      // Without its state file nothing says which version of the file these bytes are from
      // (a kill -9 before the state was written, or another program's .part): start over.
      return;
    }
    if (state.segments.empty()) {
      have = static_cast<std::uint64_t>(st.st_size);
    } else {
      for (const Segment& s : state.segments) transfer.have += s.done;
    }
    open_part(state.segments.empty() ? have : *state.total, false);
    transfer.size = state.total.value_or(0);
    if (state.segments.empty()) transfer.have = have;
  }

  // NAME.part, keeping its first `keep` bytes. Starting from zero means a new file, never a
  // truncated one: ext4 flushes a file truncated to 0 on close (its "replace by truncate"
  // heuristic), which costs a disk write per small file and stalls the hub on large ones.
  void open_part(std::uint64_t keep, bool resize) {
    if (fd >= 0 && keep == 0 && file_size() > 0) {
      ::close(fd);
      fd = -1;
      ::unlink(part_path.c_str());
    }
    if (fd < 0) {
      if (name.find('/') != std::string::npos) {  // -o / out= with a directory in it
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(part_path).parent_path(), ec);
      }
      if (keep == 0) {
        fd = ::open(part_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST) {  // an older run's .part: replaced, not truncated
          ::unlink(part_path.c_str());
          fd = ::open(part_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        }
      } else {
        fd = ::open(part_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      }
      if (fd < 0) throw file_error("cannot create", part_path);
      resize = keep != 0;
    }
    // Whatever lies beyond `keep` (an older attempt's bytes) is never trusted.
    if (resize && ::ftruncate(fd, static_cast<off_t>(keep)) != 0) {
      throw file_error("cannot resize", part_path);
    }
  }

  void restart_from_zero() {
    have = 0;
    state.segments.clear();
    state.etag.clear();
    state.last_modified.clear();
    state.total.reset();
    taken.clear();
    transfer.have = 0;
    if (fd >= 0) {  // a new file rather than a truncated one (see open_part)
      ::close(fd);
      fd = -1;
      ::unlink(part_path.c_str());
    }
    ::unlink(state_path.c_str());
    state_saved = false;
  }

  void save_state() {
    if (fd < 0) return;
    if (save_part_state(state_path, state)) state_saved = true;
    last_save = Clock::now();
  }

  // Kept current so a `kill -9` leaves enough behind for -c: the validator once a second
  // into a download, a split map's progress every second.
  void maybe_save_state() {
    if (Clock::now() - last_save < std::chrono::seconds(1)) return;
    if (state_saved && state.segments.empty()) return;
    save_state();
  }

  // The first response decides the name when the user gave none: Content-Disposition wins.
  void fix_name(const ClientResponse& r) {
    if (name_fixed) return;
    name_fixed = true;
    const std::string_view cd = r.header("Content-Disposition");
    if (cd.empty()) return;
    const std::string suggested = name_from_content_disposition(cd);
    if (suggested.empty() || suggested == name) return;
    if (fd >= 0) return;  // continuing a .part: the name is the one it has
    d.names_.release(name);
    name = d.names_.claim(suggested);
    transfer.name = name;
    set_paths();
    if (!o.overwrite && exists(final_path)) {
      throw Skipped{final_path + " exists (use --overwrite to replace it)"};
    }
  }

  // Turns an answer that is not a body to save into an AttemptFailed.
  void check_status(const ClientResponse& r) {
    result.http_status = r.status;
    if (r.status >= 200 && r.status < 300) return;
    std::string what = "HTTP " + std::to_string(r.status);
    if (!r.reason.empty()) what += " " + r.reason;
    AttemptFailed e(Failure::http, retryable_status(r.status), what, r.status);
    const std::string_view ra = r.header("Retry-After");
    if (!ra.empty()) {
      e.retry_after = parse_retry_after(
          ra, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                  .count());
    }
    throw e;
  }

  void remember_validators(const ClientResponse& r) {
    const std::string etag(r.header("ETag")), last_modified(r.header("Last-Modified"));
    if (etag != state.etag || last_modified != state.last_modified) state_saved = false;
    state.etag = etag;
    state.last_modified = last_modified;
  }

  // --- one stream ---------------------------------------------------------------------------

  std::uint64_t file_size() const {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw file_error("cannot stat", part_path);
    return static_cast<std::uint64_t>(st.st_size);
  }

  void attempt_stream() {
    // What the file holds is what earlier attempts wrote.
    if (fd >= 0) have = file_size();
    const std::uint64_t offset = have;
    auto ro = request_options();
    const std::string validator = state.validator();
    const bool may_split = o.split > 1 && offset == 0;
    if (offset > 0) {
      ro.range = std::make_pair(offset, std::nullopt);
      if (!validator.empty()) ro.headers.emplace_back("If-Range", validator);
    } else if (may_split) {
      ro.range = std::make_pair(std::uint64_t{0}, std::nullopt);
    }
    bool already_complete = false;
    bool split_now = false;
    auto on_head = [&](const ClientResponse& r) -> gev::http::FileTarget {
      if (r.status == 416 && offset > 0) {
        // Nothing after `offset`: complete if the total says so, else the file shrank.
        const auto cr = parse_content_range(r.header("Content-Range"));
        if (cr && cr->total && *cr->total == offset) {
          already_complete = true;
          state.total = offset;
          result.http_status = r.status;
          return gev::http::FileTarget{fd, offset, 0};  // nothing of the 416's body is kept
        }
        AttemptFailed e(
            Failure::http, true,
            "the server refused to continue at byte " + std::to_string(offset) + " (HTTP 416)",
            416);
        e.restart = true;
        e.retry_after = Seconds(0);
        throw e;
      }
      check_status(r);
      fix_name(r);
      std::optional<std::uint64_t> total;
      if (r.status == 206) {
        const auto cr = parse_content_range(r.header("Content-Range"));
        if (!cr || cr->first != offset || cr->first > cr->last) {
          AttemptFailed e(Failure::network, true,
                          "bad Content-Range for byte " + std::to_string(offset) + ": '" +
                              std::string(r.header("Content-Range")) + "'");
          e.restart = true;
          throw e;
        }
        if (offset > 0 && state.total && cr->total && *cr->total != *state.total) {
          AttemptFailed e(Failure::network, true, "the file changed size on the server");
          e.restart = true;
          throw e;
        }
        total = cr->total;
      } else {
        // 200: the whole file. Continuing was refused (no ranges, or the validator changed):
        // everything on disk is dropped, never appended to.
        have = 0;
        transfer.have = 0;
        total = content_length(r);
      }
      remember_validators(r);
      state.total = total;
      open_part(have, true);
      transfer.size = total.value_or(0);
      split_now = may_split && r.status == 206 && total && !state.validator().empty() &&
                  *total >= 2 * o.min_split_size;
      if (split_now) {
        plan_split(*total);
        return gev::http::FileTarget{fd, 0, state.segments[0].end};  // then segment 0 is done
      }
      // A body worth resuming gets its state file before its first byte, so that even a
      // kill -9 right away leaves the validator -c needs.
      if (!state_saved && (!total || *total - have >= (1u << 20))) save_state();
      return gev::http::FileTarget{fd, have};
    };
    auto on_progress = [&](std::uint64_t n) {
      if (split_now) {
        segment_progress(0, n);
        return;
      }
      have += n;
      account(n);
      maybe_save_state();
    };
    try {
      d.client_.stream_to_file(target.url, on_head, on_progress, ro);
    } catch (const Aborted&) {
      // A helper of this split download failed; finish_split reports its error.
    } catch (const ClientError& e) {
      throw from_client_error(e);
    }
    if (split_now) {
      finish_split();
      return;
    }
    if (!already_complete && state.total && have != *state.total) {
      throw AttemptFailed(Failure::network, true,
                          "the body ended at byte " + std::to_string(have) + " of " +
                              std::to_string(*state.total) + " (truncated)");
    }
    if (!state.total) state.total = have;
  }

  // --- a split download ---------------------------------------------------------------------

  void plan_split(std::uint64_t total) {
    const std::uint64_t count = std::min<std::uint64_t>(
        static_cast<std::uint64_t>(o.split), std::max<std::uint64_t>(1, total / o.min_split_size));
    const std::uint64_t size = total / count;
    abort_split = false;  // an earlier split's failure is not this one's
    helper_error.reset();
    state.segments.clear();
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t start = i * size;
      state.segments.push_back(Segment{start, i + 1 == count ? total : start + size, 0});
    }
    // The map is on disk before the file is extended: a .part larger than its bytes never
    // exists without a map saying which of them are real.
    save_state();
    if (!state_saved) throw file_error("cannot write", state_path);
    open_part(total, true);
    taken.assign(state.segments.size(), false);
    taken[0] = true;  // this connection carries on with segment 0
    spawn_helpers();
  }

  void run_split() {
    taken.assign(state.segments.size(), false);
    abort_split = false;
    helper_error.reset();
    spawn_helpers();
    finish_split();
  }

  // This greenlet's share of the segments, then the helpers'; the first failure wins.
  void finish_split() {
    try {
      work_segments();
    } catch (const Aborted&) {  // a helper failed: its error is reported below
    }
    join_helpers();
  }

  void spawn_helpers() {
    std::size_t open = 0;
    for (std::size_t i = 0; i < state.segments.size(); ++i) {
      if (!taken[i] && state.segments[i].remaining() > 0) ++open;
    }
    // This greenlet is one worker; helpers take the rest, within --per-host.
    const std::size_t wanted = std::min<std::size_t>(open, static_cast<std::size_t>(o.split) - 1);
    for (std::size_t i = 0; i < wanted; ++i) {
      gev::Semaphore* slot = d.host_slot(target.url);
      if (slot && !slot->acquire(false)) break;
      helpers.push_back(gev::spawn([this, slot] {
        struct Release {
          gev::Semaphore* s;
          ~Release() {
            if (s) s->release();
          }
        } release{slot};
        try {
          work_segments();
        } catch (AttemptFailed& e) {
          if (!helper_error) helper_error = e;
          abort_split = true;
        } catch (const Aborted&) {
        } catch (const std::system_error& e) {
          if (!helper_error) helper_error = AttemptFailed(Failure::local_file, false, e.what());
          abort_split = true;
        }
      }));
    }
  }

  void work_segments() {
    for (;;) {
      if (abort_split) throw Aborted{};
      std::size_t next = state.segments.size();
      for (std::size_t i = 0; i < state.segments.size(); ++i) {
        if (!taken[i] && state.segments[i].remaining() > 0) {
          next = i;
          break;
        }
      }
      if (next == state.segments.size()) return;
      taken[next] = true;
      fetch_segment(next);
    }
  }

  void join_helpers() {
    try {
      gev::joinall(std::vector<std::shared_ptr<gev::GreenletBase>>(helpers.begin(), helpers.end()));
    } catch (...) {
      stop_helpers();
      throw;
    }
    helpers.clear();
    if (helper_error) throw *helper_error;
    for (const Segment& s : state.segments) {
      if (s.remaining() > 0) {
        throw AttemptFailed(Failure::network, true, "a segment is incomplete");
      }
    }
    state.total = state.segments.back().end;
  }

  void stop_helpers() {
    if (helpers.empty()) return;
    abort_split = true;
    gev::killall(std::vector<std::shared_ptr<gev::GreenletBase>>(helpers.begin(), helpers.end()));
    helpers.clear();
  }

  // n more bytes of segment `index` are in the file.
  void segment_progress(std::size_t index, std::uint64_t n) {
    state.segments[index].done += n;
    account(n);
    maybe_save_state();
    if (abort_split) throw Aborted{};
  }

  void fetch_segment(std::size_t index) {
    Segment& s = state.segments[index];
    const std::uint64_t from = s.start + s.done;
    auto ro = request_options();
    ro.range = std::make_pair(from, std::optional<std::uint64_t>(s.end - 1));
    ro.headers.emplace_back("If-Range", state.validator());
    auto on_head = [&](const ClientResponse& r) -> gev::http::FileTarget {
      check_status(r);
      const auto cr = parse_content_range(r.header("Content-Range"));
      if (r.status != 206 || !cr || cr->first != from || cr->total != state.total) {
        AttemptFailed e(Failure::network, true,
                        r.status == 206 ? "the server answered another range than asked"
                                        : "the file changed on the server; starting again");
        e.restart = true;
        throw e;
      }
      return gev::http::FileTarget{fd, from, s.end - from};
    };
    auto on_progress = [&](std::uint64_t n) { segment_progress(index, n); };
    try {
      d.client_.stream_to_file(target.url, on_head, on_progress, ro);
    } catch (const ClientError& e) {
      taken[index] = false;
      throw from_client_error(e);
    } catch (...) {
      taken[index] = false;
      throw;
    }
    if (s.remaining() > 0) {
      taken[index] = false;
      throw AttemptFailed(Failure::network, true, "a segment's body ended early (truncated)");
    }
  }

  // --- the end ------------------------------------------------------------------------------

  void finalize() {
    if (fd < 0) open_part(0, true);  // an empty body still makes an (empty) file
    // One stream wrote [0, have); a split download wrote every segment (join_helpers checked).
    if (state.segments.empty() && state.total && have != *state.total) {
      throw AttemptFailed(Failure::network, true,
                          "the file has " + std::to_string(have) + " bytes, expected " +
                              std::to_string(*state.total));
    }
    if (!target.sha256.empty()) {
      const std::string got = sha256_of(fd, part_path);
      if (got != target.sha256) {
        ::close(fd);
        fd = -1;
        ::unlink(part_path.c_str());
        ::unlink(state_path.c_str());
        AttemptFailed e(Failure::checksum, false,
                        "checksum mismatch: sha256 " + got + ", expected " + target.sha256);
        throw e;
      }
    }
    ::close(fd);
    fd = -1;
    // Never over a file that appeared meanwhile, unless --overwrite.
    const int rc = o.overwrite ? ::rename(part_path.c_str(), final_path.c_str())
                               : ::renameat2(AT_FDCWD, part_path.c_str(), AT_FDCWD,
                                             final_path.c_str(), RENAME_NOREPLACE);
    if (rc != 0) {
      if (errno == EEXIST) throw Skipped{final_path + " appeared meanwhile; kept " + part_path};
      throw file_error("cannot rename to " + final_path + ":", part_path);
    }
    if (state_saved || o.resume) ::unlink(state_path.c_str());
    result.end(Status::ok, Failure::none, "");
  }

  // Interrupted or failed: leave the .part and an up-to-date state for -c.
  void keep_for_resume() {
    stop_helpers();
    if (fd >= 0) save_state();
  }
};

Downloader::Downloader(const Options& options)
    : options_(options),
      client_(gev::http::ClientOptions{
          .ca_file = options.ca_file,
          .verify = !options.insecure,
          .max_idle_per_host = static_cast<std::size_t>(options.jobs + options.split),
      }),
      limiter_(options.limit_rate),
      seed_(static_cast<std::uint64_t>(Clock::now().time_since_epoch().count())) {
  results_.resize(options.targets.size());
  for (std::size_t i = 0; i < options.targets.size(); ++i) {
    const Target& t = options.targets[i];
    results_[i].url = t.url;
    // Names are claimed in input order, so a second run (-c) maps URLs to the same files.
    initial_names_.push_back(
        names_.claim(t.output_name.empty() ? name_from_url(t.url) : t.output_name));
  }
}

Downloader::~Downloader() = default;

gev::Semaphore* Downloader::host_slot(const std::string& url) {
  if (options_.per_host <= 0) return nullptr;
  auto u = gev::http::parse_url(url);
  const std::string key = u ? u->scheme + "://" + u->authority() : url;
  auto& slot = host_slots_[key];
  if (!slot) slot = std::make_unique<gev::Semaphore>(static_cast<std::size_t>(options_.per_host));
  return slot.get();
}

void Downloader::fetch(std::size_t index) {
  Result& r = results_[index];
  const auto started = Clock::now();
  auto finish = [&] {
    r.seconds = seconds_since(started);
    ++finished_;
    if (on_finish) on_finish(r);
  };
  if (stopping_) {
    r.end(Status::interrupted, Failure::interrupted, "interrupted before it started");
    finish();
    return;
  }
  Job job(*this, index);
  gev::Semaphore* slot = host_slot(r.url);
  struct Active {
    Downloader& d;
    std::list<Transfer*>::iterator it;
    gev::Semaphore* slot = nullptr;
    ~Active() {
      d.active_.erase(it);
      if (slot) slot->release();
    }
  };
  if (slot) slot->acquire();
  Active active{*this, active_.insert(active_.end(), &job.transfer), slot};
  // Every way but success and a skip leaves the .part and its state for -c.
  auto failed = [&](Status status, Failure kind, std::string why) {
    job.keep_for_resume();
    r.end(status, kind, std::move(why));
  };
  try {
    job.run();
  } catch (const gev::GreenletExit&) {
    failed(Status::interrupted, Failure::interrupted, "interrupted");
    finish();
    throw;
  } catch (const Skipped& s) {
    r.end(Status::skipped, Failure::none, s.reason);
  } catch (const AttemptFailed& e) {
    failed(Status::failed, e.kind, e.what());
  } catch (const std::system_error& e) {
    failed(Status::failed, Failure::local_file, e.what());
  } catch (const std::exception& e) {
    failed(Status::failed, Failure::network, e.what());
  } catch (const gev::BaseException&) {
    throw;  // a kill with another exception type, or LoopExit: not ours to swallow
  } catch (...) {
    failed(Status::failed, Failure::network, "internal error (an unexpected exception)");
  }
  finish();
}

const std::vector<Result>& Downloader::run() {
  pool_ = std::make_unique<gev::Pool>(static_cast<std::size_t>(options_.jobs));
  for (std::size_t i = 0; i < results_.size() && !stopping_; ++i) {
    pool_->spawn([this, i] { fetch(i); });
  }
  pool_->join();
  for (Result& r : results_) {
    if (r.status == Status::pending) {
      r.end(Status::interrupted, Failure::interrupted, "interrupted before it started");
    }
  }
  return results_;
}

void Downloader::stop() {
  stopping_ = true;
  if (pool_) pool_->kill();
}

}  // namespace gevget
