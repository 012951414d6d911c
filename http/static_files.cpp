#include "gev/http/static_files.hpp"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

namespace gev::http {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string http_time(time_t t) {
  tm g{};
  gmtime_r(&t, &g);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &g);
  return std::string(buf, n);
}

std::optional<time_t> parse_http_time(std::string_view text) {
  tm g{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &g);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&g);
}

// A safe relative path: no "..", no absolute path, no NUL or backslash, no empty segments
// beyond a trailing slash. Returns false when the path must be refused.
bool safe_relative(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.find('\0') != std::string_view::npos ||
      p.find('\\') != std::string_view::npos) {
    return false;
  }
  std::size_t i = 0;
  while (i <= p.size()) {
    const std::size_t slash = p.find('/', i);
    const std::string_view seg = p.substr(i, slash == std::string_view::npos ? p.npos : slash - i);
    if (seg == ".." || seg == ".") return false;
    if (slash == std::string_view::npos) break;
    i = slash + 1;
  }
  return true;
}

struct ByteRange {
  std::uint64_t first, last;  // inclusive
};

// One "bytes=" range (multiple ranges are answered with the whole file, as nginx may do).
// nullopt: no usable Range header; {0, UINT64_MAX}: unsatisfiable.
std::optional<ByteRange> parse_range(std::string_view h, std::uint64_t size, bool* unsatisfiable) {
  *unsatisfiable = false;
  if (h.rfind("bytes=", 0) != 0) return std::nullopt;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return std::nullopt;
  const auto dash = h.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view d, std::uint64_t* out) {
    if (d.empty() || d.size() > 19) return false;
    std::uint64_t v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    *out = v;
    return true;
  };
  std::uint64_t a = 0, b = 0;
  const std::string_view left = h.substr(0, dash), right = h.substr(dash + 1);
  if (left.empty()) {  // suffix: the last b bytes
    if (!number(right, &b)) return std::nullopt;
    if (b == 0 || size == 0) {
      *unsatisfiable = true;
      return std::nullopt;
    }
    return ByteRange{size > b ? size - b : 0, size - 1};
  }
  if (!number(left, &a)) return std::nullopt;
  if (right.empty()) {
    b = size == 0 ? 0 : size - 1;
  } else if (!number(right, &b) || b < a) {
    return std::nullopt;
  }
  if (a >= size) {
    *unsatisfiable = true;
    return std::nullopt;
  }
  return ByteRange{a, std::min(b, size - 1)};
}

}  // namespace

std::string_view content_type_for(std::string_view path) noexcept {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".txt", "text/plain; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".xml", "application/xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".pdf", "application/pdf"},
      {".zip", "application/zip"},
      {".gz", "application/gzip"},
      {".tar", "application/x-tar"},
      {".wasm", "application/wasm"},
      {".mp4", "video/mp4"},
      {".mp3", "audio/mpeg"},
      {".woff2", "font/woff2"},
      {".csv", "text/csv; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (ends_with(path, ext)) return type;
  }
  return "application/octet-stream";
}

Response send_from_directory(const std::string& root, std::string_view relative_path,
                             const Request& req) {
  if (req.verb() != Verb::get && req.verb() != Verb::head) {
    Response r = Response::error(405);
    r.set_header("Allow", "GET, HEAD");
    return r;
  }
  if (!safe_relative(relative_path)) return Response::error(404);
  char real_root[PATH_MAX];
  if (::realpath(root.c_str(), real_root) == nullptr) return Response::error(404);
  const std::string full = std::string(real_root) + "/" + std::string(relative_path);
  char real_file[PATH_MAX];
  if (::realpath(full.c_str(), real_file) == nullptr) return Response::error(404);
  const std::size_t root_len = std::strlen(real_root);
  if (std::strncmp(real_file, real_root, root_len) != 0 || real_file[root_len] != '/') {
    return Response::error(404);  // a symlink out of the root
  }
  const int fd = ::open(real_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Response::error(errno == EACCES ? 403 : 404);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Response::error(404);
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  char etag[64];
  std::snprintf(etag, sizeof etag, "\"%llx-%llx\"", static_cast<unsigned long long>(st.st_mtime),
                static_cast<unsigned long long>(size));
  const std::string last_modified = http_time(st.st_mtime);

  Response r;
  r.set_header("Content-Type", content_type_for(relative_path));
  r.set_header("ETag", etag);
  r.set_header("Last-Modified", last_modified);
  r.set_header("Accept-Ranges", "bytes");

  // Conditional GET: If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
  const std::string_view inm = req.header("If-None-Match");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = inm == "*" || inm.find(etag) != std::string_view::npos;
  } else if (auto ims = parse_http_time(req.header("If-Modified-Since"))) {
    not_modified = st.st_mtime <= *ims;
  }
  if (not_modified) {
    ::close(fd);
    r.status = 304;
    return r;
  }

  std::uint64_t first = 0, length = size;
  r.status = 200;
  const std::string_view range = req.header("Range");
  const std::string_view if_range = req.header("If-Range");
  const bool range_applies =
      !range.empty() && (if_range.empty() || if_range == etag || if_range == last_modified);
  if (range_applies) {
    bool unsatisfiable = false;
    if (auto br = parse_range(range, size, &unsatisfiable)) {
      first = br->first;
      length = br->last - br->first + 1;
      r.status = 206;
      r.set_header("Content-Range", "bytes " + std::to_string(br->first) + "-" +
                                        std::to_string(br->last) + "/" + std::to_string(size));
    } else if (unsatisfiable) {
      ::close(fd);
      Response bad = Response::error(416);
      bad.set_header("Content-Range", "bytes */" + std::to_string(size));
      return bad;
    }
  }
  r.file = FileBody{fd, first, length};
  return r;
}

}  // namespace gev::http
