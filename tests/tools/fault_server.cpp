// gevget_fault_server: a fault-injecting HTTP/1.1 server for gevget's tests, written with gev's
// StreamServer on raw bytes so that every response's framing is under exact control.
//
//   gevget_fault_server [--tls CERT KEY]
//
// Listens on 127.0.0.1, port 0 (the kernel's choice), prints "PORT <n>\n" on stdout and serves
// until killed. With --tls every route is served over TLS with CERT/KEY. Quiet unless the
// environment has GEV_FAULT_VERBOSE=1 (then errors and each request go to stderr).
//
// Bodies are deterministic: byte i of a body with seed s is fault_body_byte(i, s) (the tests
// carry the same function). Paths are /ROUTE/PARAM.../[NAME]: a segment after the route's
// parameters is ignored by the server (it only gives the downloaded file its name). N is a
// size in bytes, AT a byte count of the response body after which the connection is cut.
//
//   /file/N               200, Content-Length, ETag "v1", Last-Modified, Accept-Ranges: bytes;
//                         one Range (206 + Content-Range, 416 past the end), If-Range (a
//                         mismatch gives the full 200), HEAD. Seed 1.
//   /cd/NAME/N            /file/N with Content-Disposition: attachment; filename="NAME decoded"
//   /cdstar/NAME/N        /file/N with Content-Disposition: attachment; filename*=UTF-8''NAME
//   /drip/N/PIECE/MS      /file/N whose body goes out PIECE bytes every MS milliseconds
//   /cut/N/AT             /file/N, every response cut after AT body bytes (ranges honoured)
//   /cutfirst/N/AT        /file/N, the first GET cut after AT body bytes, later ones whole
//   /badlen/N/SENT        200 announcing Content-Length N, sends SENT bytes, closes (no ranges)
//   /chunked/N            200, Transfer-Encoding: chunked, complete
//   /chunkcut/N/AT        chunked, cut after AT body bytes, no terminating 0-chunk, then close
//   /busy/CODE/K/N        the first K GETs get CODE (e.g. 503, 429) with Retry-After: 1, then
//                         /file/N
//   /err/CODE             always CODE with a short body
//   /loop/a, /loop/b      302 to each other, forever
//   /redir/K/N            K redirects (301, 302, 303, 307, 308 in turn; absolute and relative
//                         Locations alternating) ending at /file/N
//   /norange/N/AT         claims Accept-Ranges: bytes but ignores Range (always 200 whole); the
//                         first GET is cut after AT body bytes
//   /etag/N/AT            first GET: ETag "v1", seed 1, cut after AT bytes; later GETs: ETag "v2",
//                         seed 2, whole, Range honoured only when If-Range is absent or "v2"
//   /slow/MS/N            waits MS milliseconds before the status line, then /file/N
//   /_stats               "max_in_flight N": the most requests (not counting /_log and
//                         /_stats) that were being answered at the same time
//   /_log                 the request log, one line per request:
//                         "METHOD PATH range=RANGE if-range=IF-RANGE\n"
//
// GET counters are kept per path (HEAD does not count: it sees what the next GET would).
// Connections are kept alive (HTTP/1.1 without Connection: close) except after a cut.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gev/gev.hpp>
#include <gev/net/ssl_context.hpp>
#include <gev/net/ssl_stream.hpp>
#include <gev/net/stream_server.hpp>

namespace {

using namespace std::chrono_literals;

// Byte i of a body with seed s (the tests carry the same function).
inline unsigned char fault_body_byte(std::uint64_t i, std::uint64_t s) {
  return static_cast<unsigned char>((i * 131 + s * 7 + i / 251) % 256);
}

constexpr const char* kLastModifiedV1 = "Wed, 21 Oct 2015 07:28:00 GMT";
constexpr const char* kLastModifiedV2 = "Thu, 22 Oct 2015 07:28:00 GMT";
constexpr std::size_t kMaxHead = 16 * 1024;

bool verbose = false;
std::map<std::string, int> get_counts;  // per path
std::string request_log;
int in_flight = 0, max_in_flight = 0;  // requests being answered (for --per-host)

struct Request {
  std::string method, target, path, version;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const std::size_t slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

const char* reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

// What a body-serving route sends.
struct Entity {
  std::uint64_t size = 0;
  std::uint64_t seed = 1;
  std::string etag = "\"v1\"";  // empty: none
  std::string last_modified = kLastModifiedV1;
  bool honour_range = true;
  bool advertise_ranges = true;
  bool chunked = false;
  std::optional<std::uint64_t> cut_after;    // body bytes of this response, then close
  std::optional<std::uint64_t> announce;     // a Content-Length that lies (with cut_after)
  std::uint64_t piece = 16 * 1024;           // bytes per write
  std::chrono::milliseconds piece_delay{0};  // pause between writes
  std::vector<std::string> extra_headers;
};

// One connection, over a plain socket or a TLS stream (both have recv and sendall).
template <class Stream>
class Connection {
 public:
  Connection(Stream& stream, std::string scheme) : s_(stream), scheme_(std::move(scheme)) {}

  void run() {
    for (int i = 0; i < 100000; ++i) {
      Request req;
      if (!read_request(req)) return;
      log_request(req);
      const bool counted = req.path.rfind("/_", 0) != 0;
      struct InFlight {
        bool on;
        explicit InFlight(bool on) : on(on) {
          if (on) max_in_flight = std::max(max_in_flight, ++in_flight);
        }
        ~InFlight() {
          if (on) --in_flight;
        }
      } guard(counted);
      if (!handle(req)) return;
    }
  }

 private:
  bool read_request(Request& req) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (buf_.size() > kMaxHead) return false;
      char tmp[4096];
      const std::size_t n = s_.recv(tmp, sizeof tmp);
      if (n == 0) return false;
      buf_.append(tmp, n);
    }
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string line = head.substr(0, line_end);
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1) return false;
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    req.version = line.substr(sp2 + 1);
    req.path = req.target.substr(0, req.target.find('?'));
    if (req.path.rfind("http://", 0) == 0 || req.path.rfind("https://", 0) == 0) {
      const std::size_t slash = req.path.find('/', req.path.find("//") + 2);
      req.path = slash == std::string::npos ? "/" : req.path.substr(slash);
    }
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string h =
          head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = h.find(':');
      if (colon == std::string::npos) continue;
      req.headers[lower(trim(h.substr(0, colon)))] = trim(h.substr(colon + 1));
    }
    // Request bodies are not expected; skip a Content-Length one if it is small and present.
    if (auto cl = to_u64(req.header("content-length")); cl && *cl > 0) {
      if (*cl > 1 << 20) return false;
      while (buf_.size() < *cl) {
        char tmp[4096];
        const std::size_t n = s_.recv(tmp, sizeof tmp);
        if (n == 0) return false;
        buf_.append(tmp, n);
      }
      buf_.erase(0, *cl);
    }
    return true;
  }

  void log_request(const Request& req) {
    std::string line = req.method + " " + req.path + " range=" + req.header("range") +
                       " if-range=" + req.header("if-range") + "\n";
    if (request_log.size() < (1 << 20)) request_log += line;
    if (verbose) fprintf(stderr, "fault_server: %s", line.c_str());
  }

  bool keep_alive(const Request& req) const {
    const std::string c = lower(req.header("connection"));
    if (req.version == "HTTP/1.0") return c.find("keep-alive") != std::string::npos;
    return c.find("close") == std::string::npos;
  }

  void send_head(int code, const std::vector<std::string>& headers, bool close) {
    std::string out = "HTTP/1.1 " + std::to_string(code) + " " + reason(code) + "\r\n";
    out += "Server: gevget-fault-server\r\n";
    for (const std::string& h : headers) out += h + "\r\n";
    if (close) out += "Connection: close\r\n";
    out += "\r\n";
    s_.sendall(out);
  }

  // A small complete response (errors, redirects, the log).
  bool simple(const Request& req, int code, std::string body, std::vector<std::string> headers) {
    const bool ka = keep_alive(req);
    headers.push_back("Content-Type: text/plain");
    headers.push_back("Content-Length: " + std::to_string(body.size()));
    send_head(code, headers, !ka);
    if (req.method != "HEAD") s_.sendall(body);
    return ka;
  }

  void send_body_bytes(std::uint64_t seed, std::uint64_t from, std::uint64_t count,
                       const Entity& e) {
    std::string piece;
    std::uint64_t sent = 0;
    while (sent < count) {
      const std::uint64_t n = std::min<std::uint64_t>(e.piece, count - sent);
      piece.resize(n);
      for (std::uint64_t k = 0; k < n; ++k) piece[k] = fault_body_byte(from + sent + k, seed);
      if (e.chunked) {
        char size_line[32];
        snprintf(size_line, sizeof size_line, "%llx\r\n", static_cast<unsigned long long>(n));
        s_.sendall(std::string(size_line) + piece + "\r\n");
      } else {
        s_.sendall(piece);
      }
      sent += n;
      if (e.piece_delay.count() > 0 && sent < count) gev::sleep(e.piece_delay);
    }
  }

  // Serves an entity: range logic, HEAD, cuts. Returns whether the connection stays open.
  bool serve(const Request& req, const Entity& e) {
    std::uint64_t from = 0, count = e.size;
    int code = 200;
    std::vector<std::string> headers = e.extra_headers;
    headers.push_back("Content-Type: application/octet-stream");
    if (!e.etag.empty()) headers.push_back("ETag: " + e.etag);
    if (!e.last_modified.empty()) headers.push_back("Last-Modified: " + e.last_modified);
    if (e.advertise_ranges) headers.push_back("Accept-Ranges: bytes");
    const std::string range = req.header("range");
    const std::string if_range = req.header("if-range");
    bool use_range = e.honour_range && !e.chunked && !range.empty() &&
                     range.rfind("bytes=", 0) == 0 && range.find(',') == std::string::npos;
    if (use_range && !if_range.empty()) {
      use_range = (!e.etag.empty() && if_range == e.etag && if_range.rfind("W/", 0) != 0) ||
                  (!e.last_modified.empty() && if_range == e.last_modified);
    }
    if (use_range) {
      const std::string spec = range.substr(6);
      const std::size_t dash = spec.find('-');
      std::optional<std::uint64_t> a, b;
      if (dash != std::string::npos) {
        a = to_u64(trim(spec.substr(0, dash)));
        b = to_u64(trim(spec.substr(dash + 1)));
      }
      if (dash == std::string::npos || (!a && !b) || (a && b && *b < *a) ||
          (!a && trim(spec.substr(0, dash)).size() > 0) ||
          (!b && trim(spec.substr(dash + 1)).size() > 0)) {
        use_range = false;  // malformed: ignore it
      } else if (!a) {      // suffix: the last *b bytes
        if (*b == 0) {
          headers.push_back("Content-Range: bytes */" + std::to_string(e.size));
          return simple(req, 416, "", headers);
        }
        from = e.size - std::min(*b, e.size);
        count = e.size - from;
        code = 206;
      } else {
        if (*a >= e.size) {
          headers.push_back("Content-Range: bytes */" + std::to_string(e.size));
          return simple(req, 416, "", headers);
        }
        from = *a;
        const std::uint64_t last = b ? std::min(*b, e.size - 1) : e.size - 1;
        count = last - from + 1;
        code = 206;
      }
    }
    if (code == 206) {
      headers.push_back("Content-Range: bytes " + std::to_string(from) + "-" +
                        std::to_string(from + count - 1) + "/" + std::to_string(e.size));
    }
    if (e.chunked) {
      headers.push_back("Transfer-Encoding: chunked");
    } else {
      headers.push_back("Content-Length: " + std::to_string(e.announce ? *e.announce : count));
    }
    const bool head = req.method == "HEAD";
    const bool cut = !head && e.cut_after.has_value();
    const bool ka = keep_alive(req) && !cut;
    send_head(code, headers, !ka);
    if (head) return ka;
    send_body_bytes(e.seed, from, cut ? std::min(*e.cut_after, count) : count, e);
    if (cut) return false;  // the handler returns: the connection closes mid-body
    if (e.chunked) s_.sendall(std::string("0\r\n\r\n"));
    return ka;
  }

  std::string origin(const Request& req) const { return scheme_ + "://" + req.header("host"); }

  bool handle(const Request& req) {
    if (req.method != "GET" && req.method != "HEAD") {
      return simple(req, 400, "only GET and HEAD\n", {"Allow: GET, HEAD"});
    }
    const std::vector<std::string> seg = split_path(req.path);
    // This request's attempt number for the path: HEAD sees what the next GET would.
    int& counter = get_counts[req.path];
    if (req.method == "GET") ++counter;
    const int attempt = req.method == "GET" ? counter : counter + 1;
    auto num = [&](std::size_t i) -> std::optional<std::uint64_t> {
      return i < seg.size() ? to_u64(seg[i]) : std::nullopt;
    };
    const std::string route = seg.empty() ? std::string() : seg[0];
    Entity e;
    if (route == "_log") return simple(req, 200, request_log, {});
    if (route == "_stats") {
      return simple(req, 200, "max_in_flight " + std::to_string(max_in_flight) + "\n", {});
    }
    if (route == "file" && num(1)) {
      e.size = *num(1);
      return serve(req, e);
    }
    if ((route == "cd" || route == "cdstar") && seg.size() >= 3 && num(2)) {
      e.size = *num(2);
      e.extra_headers.push_back(route == "cd" ? "Content-Disposition: attachment; filename=\"" +
                                                    url_decode(seg[1]) + "\""
                                              : "Content-Disposition: attachment; "
                                                "filename*=UTF-8''" +
                                                    seg[1]);
      return serve(req, e);
    }
    if (route == "drip" && num(1) && num(2) && num(3)) {
      e.size = *num(1);
      e.piece = std::max<std::uint64_t>(1, *num(2));
      e.piece_delay = std::chrono::milliseconds(*num(3));
      return serve(req, e);
    }
    if (route == "cut" && num(1) && num(2)) {
      e.size = *num(1);
      e.cut_after = *num(2);
      return serve(req, e);
    }
    if (route == "cutfirst" && num(1) && num(2)) {
      e.size = *num(1);
      if (attempt == 1) e.cut_after = *num(2);
      return serve(req, e);
    }
    if (route == "badlen" && num(1) && num(2)) {
      e.size = *num(1);
      e.announce = *num(1);
      e.cut_after = *num(2);
      e.honour_range = false;
      e.advertise_ranges = false;
      e.etag.clear();
      return serve(req, e);
    }
    if (route == "chunked" && num(1)) {
      e.size = *num(1);
      e.chunked = true;
      e.piece = 4096;
      e.advertise_ranges = false;
      return serve(req, e);
    }
    if (route == "chunkcut" && num(1) && num(2)) {
      e.size = *num(1);
      e.chunked = true;
      e.piece = 1000;
      e.advertise_ranges = false;
      e.cut_after = *num(2);
      return serve(req, e);
    }
    if (route == "busy" && num(1) && num(2) && num(3)) {
      if (attempt <= static_cast<int>(*num(2))) {
        const int code = static_cast<int>(*num(1));
        return simple(req, code, std::to_string(code) + " try again later\n", {"Retry-After: 1"});
      }
      e.size = *num(3);
      return serve(req, e);
    }
    if (route == "err" && num(1)) {
      const int code = static_cast<int>(*num(1));
      return simple(req, code, "error " + std::to_string(code) + "\n", {});
    }
    if (route == "loop" && seg.size() >= 2) {
      const std::string next = seg[1] == "a" ? "/loop/b" : "/loop/a";
      return simple(req, 302, "redirect loop\n", {"Location: " + next});
    }
    if (route == "redir" && num(1) && num(2)) {
      const std::uint64_t k = *num(1);
      std::string tail = "/" + std::to_string(*num(2));
      for (std::size_t i = 3; i < seg.size(); ++i) tail += "/" + seg[i];
      static const int codes[] = {301, 302, 303, 307, 308};
      const std::string target = k == 0 ? "/file" + tail : "/redir/" + std::to_string(k - 1) + tail;
      const std::string location = k % 2 == 1 ? origin(req) + target : target;
      return simple(req, codes[k % 5], "moved\n", {"Location: " + location});
    }
    if (route == "norange" && num(1) && num(2)) {
      e.size = *num(1);
      e.honour_range = false;  // but Accept-Ranges: bytes is still claimed
      if (attempt == 1 && *num(2) > 0) e.cut_after = *num(2);
      return serve(req, e);
    }
    if (route == "etag" && num(1) && num(2)) {
      e.size = *num(1);
      if (attempt == 1) {
        e.cut_after = *num(2);
      } else {
        e.seed = 2;
        e.etag = "\"v2\"";
        e.last_modified = kLastModifiedV2;
      }
      return serve(req, e);
    }
    if (route == "slow" && num(1) && num(2)) {
      gev::sleep(std::chrono::milliseconds(*num(1)));
      e.size = *num(2);
      return serve(req, e);
    }
    return simple(req, 404, "no such route\n", {});
  }

  Stream& s_;
  std::string scheme_;
  std::string buf_;
};

template <class Stream>
void serve_connection(Stream& stream, const char* scheme) {
  try {
    stream.settimeout(std::chrono::seconds(60));
    Connection<Stream>(stream, scheme).run();
  } catch (const std::exception& e) {
    // The client went away (timeouts, resets): expected in these tests.
    if (verbose) fprintf(stderr, "fault_server: connection ended: %s\n", e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  const char* v = getenv("GEV_FAULT_VERBOSE");
  verbose = v != nullptr && std::strcmp(v, "1") == 0;
  if (!verbose) gev::set_error_hook([](const gev::ErrorReport&) {});
  std::optional<gev::net::ssl::Context> tls;
  if (argc == 4 && std::strcmp(argv[1], "--tls") == 0) {
    tls.emplace(gev::net::ssl::Context::server(argv[2], argv[3]));
  } else if (argc != 1) {
    fprintf(stderr, "usage: %s [--tls CERT KEY]\n", argv[0]);
    return 2;
  }
  const gev::net::Address address{"127.0.0.1", 0};
  std::optional<gev::net::StreamServer> server;
  if (tls) {
    server.emplace(address, *tls, [](gev::net::ssl::Stream& client, const gev::net::Address&) {
      serve_connection(client, "https");
    });
  } else {
    server.emplace(address, [](gev::net::Socket& client, const gev::net::Address&) {
      serve_connection(client, "http");
    });
  }
  server->start();
  printf("PORT %u\n", static_cast<unsigned>(server->address().port()));
  fflush(stdout);
  server->serve_forever();
  return 0;
}
