#include "gev/http/client.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <variant>

#include "gev/net/resolver.hpp"
#include "gev/net/socket.hpp"
#include "gev/net/ssl_context.hpp"
#include "gev/net/ssl_error.hpp"
#include "gev/net/ssl_stream.hpp"

namespace gev::http {

namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

std::string_view ClientResponse::header(std::string_view name) const {
  auto it = headers.find(boost::beast::string_view(name.data(), name.size()));
  if (it == headers.end()) return {};
  return {it->value().data(), it->value().size()};
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Streaming gzip/deflate decoding (zlib). "deflate" is tried as zlib-wrapped first, then raw,
// since servers send both.
class Inflater {
 public:
  explicit Inflater(bool gzip) : gzip_(gzip) { init(gzip ? 15 + 16 : 15); }
  ~Inflater() { inflateEnd(&z_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  void feed(std::string_view in, const std::function<void(std::string_view)>& out) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    char buf[65536];
    while (z_.avail_in > 0 && !done_) {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_DATA_ERROR && !gzip_ && !raw_ && produced_ == 0 && z_.total_in <= in.size()) {
        inflateEnd(&z_);  // not zlib-wrapped: raw deflate
        raw_ = true;
        init(-15);
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        continue;
      }
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        throw ClientError(
            ClientError::Kind::protocol,
            std::string("gev::http: cannot decode the body: ") + (z_.msg ? z_.msg : "zlib error"));
      }
      const std::size_t n = sizeof buf - z_.avail_out;
      produced_ += n;
      if (n > 0) out(std::string_view(buf, n));
      if (rc == Z_STREAM_END) done_ = true;
      if (rc == Z_BUF_ERROR && n == 0) break;
    }
  }
  bool finished() const noexcept { return done_; }

 private:
  void init(int window_bits) {
    z_ = z_stream{};
    if (inflateInit2(&z_, window_bits) != Z_OK) throw std::bad_alloc();
  }
  z_stream z_{};
  bool gzip_;
  bool raw_ = false;
  bool done_ = false;
  std::uint64_t produced_ = 0;
};

struct Connection {
  std::variant<net::Socket, net::ssl::Stream> io;
  boost::beast::flat_buffer buffer;
  Clock::time_point idle_since{};

  void settimeout(std::optional<Duration> t) {
    std::visit([&](auto& s) { s.settimeout(t); }, io);
  }
  std::size_t read_some(boost::asio::mutable_buffer b, boost::system::error_code& ec) {
    return std::visit([&](auto& s) { return s.read_some(b, ec); }, io);
  }
  void write(std::string_view data) {
    std::visit(
        [&](auto& s) { boost::asio::write(s, boost::asio::buffer(data.data(), data.size())); }, io);
  }
};

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// no_proxy: "*", or comma-separated host names / domain suffixes (".example.com" or
// "example.com" both match sub.example.com), optionally with ":port".
bool bypass_proxy(const Url& u, const std::string& no_proxy) {
  std::string_view list = no_proxy;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string entry(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (const auto colon = entry.rfind(':'); colon != std::string::npos &&
                                             entry.find(']') == std::string::npos &&
                                             entry.find(':') == colon) {
      if (entry.substr(colon + 1) != std::to_string(u.port)) continue;
      entry.resize(colon);
    }
    entry = lower(entry);
    if (!entry.empty() && entry[0] == '.') entry.erase(0, 1);
    if (u.host == entry || (u.host.size() > entry.size() && u.host.ends_with("." + entry))) {
      return true;
    }
  }
  return false;
}

}  // namespace

// Where a response's body goes: into ClientResponse::body (no sinks), to on_chunk, or into a
// file (on_file_head / on_progress).
struct Sinks {
  const std::function<void(const ClientResponse&)>* on_head = nullptr;
  const std::function<void(std::string_view)>* on_chunk = nullptr;
  const std::function<FileTarget(const ClientResponse&)>* on_file_head = nullptr;
  const std::function<void(std::uint64_t)>* on_progress = nullptr;
};

namespace {

// The file side of stream_to_file: pwrite or splice at increasing offsets, within max_bytes.
class FileSink {
 public:
  explicit FileSink(FileTarget t, const std::function<void(std::uint64_t)>* on_progress)
      : t_(t), on_progress_(on_progress) {}
  std::uint64_t room() const noexcept { return t_.max_bytes - written_; }
  bool full() const noexcept { return written_ == t_.max_bytes; }

  // Writes what fits of `piece`; true if all of it did.
  bool write(std::string_view piece) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), room()));
    const char* p = piece.data();
    for (std::size_t left = n; left > 0;) {
      const ssize_t w = ::pwrite(t_.fd, p, left, static_cast<off_t>(t_.offset + written_));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw std::system_error(errno, std::generic_category(), "gev::http: write");
      p += w;
      left -= static_cast<std::size_t>(w);
      written_ += static_cast<std::uint64_t>(w);
    }
    if (n > 0 && on_progress_ != nullptr) (*on_progress_)(n);
    return n == piece.size();
  }

  // Moves n bytes from a pipe into the file (they came from the socket without a copy).
  void splice_from(int pipe_out, std::size_t n) {
    while (n > 0) {
      loff_t at = static_cast<loff_t>(t_.offset + written_);
      const ssize_t m = ::splice(pipe_out, nullptr, t_.fd, &at, n, SPLICE_F_MOVE);
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0) {
        if (m < 0 && (errno == EINVAL || errno == ENOSYS)) {
          // This file system does not take splice: copy what is in the pipe instead.
          char buf[16384];
          while (n > 0) {
            const ssize_t r = ::read(pipe_out, buf, std::min(n, sizeof buf));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) throw std::system_error(errno, std::generic_category(), "gev::http: pipe");
            write(std::string_view(buf, static_cast<std::size_t>(r)));
            n -= static_cast<std::size_t>(r);
          }
          no_splice_ = true;
          return;
        }
        throw std::system_error(errno, std::generic_category(), "gev::http: write");
      }
      written_ += static_cast<std::uint64_t>(m);
      n -= static_cast<std::size_t>(m);
      if (on_progress_ != nullptr) (*on_progress_)(static_cast<std::uint64_t>(m));
    }
  }
  bool splice_refused() const noexcept { return no_splice_; }

 private:
  FileTarget t_;
  const std::function<void(std::uint64_t)>* on_progress_;
  std::uint64_t written_ = 0;
  bool no_splice_ = false;
};

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe");
    ::fcntl(fd[1], F_SETPIPE_SZ, 1 << 20);  // bigger moves; the default 64 KiB if refused
  }
  ~Pipe() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
};

// Bodies below this go through the parser and pwrite: a pipe costs more than it saves.
constexpr std::uint64_t splice_threshold = 256 * 1024;

}  // namespace

struct Client::Impl {
  ClientOptions options;
  std::optional<net::ssl::Context> tls;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;

  const net::ssl::Context& tls_context() {
    if (!tls) {
      net::ssl::ContextOptions o;
      o.ca_file = options.ca_file;
      if (!options.verify) o.verify = net::ssl::Verify::none;
      tls.emplace(net::ssl::Context::client(o));
    }
    return *tls;
  }

  std::optional<Url> proxy_for(const Url& u) {
    std::optional<std::string> p;
    if (u.is_https()) {
      p = options.https_proxy;
      if (!p && options.use_env_proxy)
        p = env("https_proxy") ? env("https_proxy") : env("HTTPS_PROXY");
    } else {
      p = options.http_proxy;
      if (!p && options.use_env_proxy)
        p = env("http_proxy") ? env("http_proxy") : env("HTTP_PROXY");
    }
    if (!p || p->empty()) return std::nullopt;
    if (options.use_env_proxy) {
      auto no = env("no_proxy") ? env("no_proxy") : env("NO_PROXY");
      if (no && bypass_proxy(u, *no)) return std::nullopt;
    }
    std::string text = *p;
    if (text.find("://") == std::string::npos) text = "http://" + text;
    auto pu = parse_url(text);
    if (!pu) throw ClientError(ClientError::Kind::invalid_url, "gev::http: bad proxy URL " + *p);
    return pu;
  }

  static std::string key_of(const Url& u) {
    return u.scheme + "://" + u.host + ":" + std::to_string(u.port);
  }

  std::unique_ptr<Connection> take_idle(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& list = it->second;
    while (!list.empty()) {
      auto c = std::move(list.back());
      list.pop_back();
      if (Clock::now() - c->idle_since < options.idle_timeout) return c;
    }
    return nullptr;
  }

  void give_back(const std::string& key, std::unique_ptr<Connection> c) {
    auto& list = idle[key];
    if (list.size() >= options.max_idle_per_host) return;
    c->idle_since = Clock::now();
    list.push_back(std::move(c));
  }

  std::unique_ptr<Connection> open(const Url& u, const RequestOptions& ro,
                                   std::optional<Clock::time_point> deadline) {
    auto bounded = [&](std::optional<Duration> t) -> std::optional<Duration> {
      if (!deadline) return t;
      Duration left = *deadline - Clock::now();
      if (left <= Duration::zero()) {
        throw ClientError(ClientError::Kind::timeout, "gev::http: timed out: " + u.to_string());
      }
      return t ? std::min(*t, left) : left;
    };
    const auto proxy = proxy_for(u);
    const Url& first_hop = proxy ? *proxy : u;
    net::Socket sock;
    try {
      sock = net::create_connection(first_hop.host, first_hop.port, bounded(ro.connect_timeout));
    } catch (const net::timeout&) {
      throw ClientError(ClientError::Kind::timeout,
                        "gev::http: connect to " + first_hop.authority() + " timed out");
    } catch (const net::gaierror& e) {
      throw ClientError(ClientError::Kind::connect, std::string("gev::http: ") + e.what());
    } catch (const std::system_error& e) {
      throw ClientError(ClientError::Kind::connect, std::string("gev::http: ") + e.what());
    }
    sock.settimeout(bounded(ro.read_timeout));
    if (proxy && u.is_https()) {
      // CONNECT host:port, then TLS inside the tunnel.
      const std::string req = "CONNECT " + u.host + ":" + std::to_string(u.port) +
                              " HTTP/1.1\r\nHost: " + u.host + ":" + std::to_string(u.port) +
                              "\r\n\r\n";
      sock.sendall(req);
      std::string head;
      char ch;
      while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos) {
        if (sock.recv(&ch, 1) == 0) break;  // byte by byte: nothing of the tunnel is read
        head.push_back(ch);
      }
      if (head.rfind("HTTP/1.1 200", 0) != 0 && head.rfind("HTTP/1.0 200", 0) != 0) {
        throw ClientError(ClientError::Kind::proxy, "gev::http: proxy " + proxy->authority() +
                                                        " refused CONNECT to " + u.authority() +
                                                        ": " + head.substr(0, head.find("\r\n")));
      }
    }
    auto c = std::make_unique<Connection>();
    if (u.is_https()) {
      try {
        c->io.emplace<net::ssl::Stream>(
            net::ssl::wrap_client(std::move(sock), u.host, tls_context()));
      } catch (const net::timeout&) {
        throw ClientError(ClientError::Kind::timeout,
                          "gev::http: TLS handshake with " + u.authority() + " timed out");
      } catch (const net::ssl::Error& e) {
        throw ClientError(ClientError::Kind::tls, std::string("gev::http: ") + e.what());
      } catch (const std::system_error& e) {
        throw ClientError(ClientError::Kind::connect, std::string("gev::http: ") + e.what());
      }
    } else {
      c->io.emplace<net::Socket>(std::move(sock));
    }
    return c;
  }

  struct Attempt {
    bool retry_on_fresh = false;  // a reused connection died before answering
  };

  // One request/response on one connection. Throws ClientError; sets *stale when a reused
  // connection was closed by the server before any byte of the response.
  ClientResponse exchange(const Url& u, const RequestOptions& ro, Connection& c, bool via_proxy,
                          std::optional<Clock::time_point> deadline, const Sinks& sinks,
                          bool* stale, bool* keep) {
    auto bounded_read = [&]() -> std::optional<Duration> {
      if (!deadline) return ro.read_timeout;
      Duration left = *deadline - Clock::now();
      if (left <= Duration::zero()) {
        throw ClientError(ClientError::Kind::timeout, "gev::http: timed out: " + u.to_string());
      }
      return ro.read_timeout ? std::min(*ro.read_timeout, left) : left;
    };
    std::string req;
    req.reserve(256 + ro.body.size());
    req += ro.method;
    req += ' ';
    req += via_proxy && !u.is_https() ? u.to_string() : u.target;
    req += " HTTP/1.1\r\n";
    auto user_has = [&](std::string_view name) {
      for (auto& [k, v] : ro.headers) {
        if (lower(k) == lower(name)) return true;
      }
      return false;
    };
    if (!user_has("Host")) req += "Host: " + u.authority() + "\r\n";
    if (!user_has("User-Agent") && !ro.user_agent.empty()) {
      req += "User-Agent: " + ro.user_agent + "\r\n";
    }
    if (ro.decompress && !user_has("Accept-Encoding")) req += "Accept-Encoding: gzip, deflate\r\n";
    if (ro.range && !user_has("Range")) {
      req += "Range: bytes=" + std::to_string(ro.range->first) + "-" +
             (ro.range->second ? std::to_string(*ro.range->second) : "") + "\r\n";
    }
    const bool has_body =
        !ro.body.empty() || ro.method == "POST" || ro.method == "PUT" || ro.method == "PATCH";
    if (has_body && !user_has("Content-Length")) {
      req += "Content-Length: " + std::to_string(ro.body.size()) + "\r\n";
    }
    for (auto& [k, v] : ro.headers) {
      if (k.find_first_of("\r\n:") != std::string::npos ||
          v.find_first_of("\r\n") != std::string::npos) {
        throw ClientError(ClientError::Kind::invalid_url, "gev::http: invalid header " + k);
      }
      req += k + ": " + v + "\r\n";
    }
    req += "\r\n";
    req += ro.body;

    try {
      c.settimeout(bounded_read());
      c.write(req);
    } catch (const std::system_error& e) {
      *stale = true;
      throw ClientError(ClientError::Kind::connect, std::string("gev::http: send: ") + e.what());
    }

    std::optional<bhttp::response_parser<bhttp::buffer_body>> parser;
    auto fresh_parser = [&] {
      parser.emplace();
      parser->header_limit(256 * 1024);
      parser->body_limit(ro.max_body_bytes);
      if (ro.method == "HEAD") parser->skip(true);
    };
    fresh_parser();
    auto& p = *parser;
    bool got_any = c.buffer.size() > 0;

    auto fill = [&]() -> bool {
      c.settimeout(bounded_read());
      boost::system::error_code ec;
      const std::size_t n = c.read_some(c.buffer.prepare(65536), ec);
      if (ec == boost::asio::error::eof) return false;
      if (ec == boost::system::errc::timed_out) {
        throw ClientError(
            ClientError::Kind::timeout,
            "gev::http: timed out: no data from " + u.authority() + " within the read timeout");
      }
      if (ec) {
        if (!got_any) *stale = true;
        throw ClientError(ClientError::Kind::connect,
                          "gev::http: reading from " + u.authority() + ": " + ec.message());
      }
      c.buffer.commit(n);
      got_any = got_any || n > 0;
      return true;
    };

    // Header (skipping 1xx interim responses).
    for (;;) {
      while (!p.is_header_done()) {
        if (c.buffer.size() > 0) {
          boost::system::error_code ec;
          const std::size_t used = p.put(c.buffer.data(), ec);
          c.buffer.consume(used);
          if (ec && ec != bhttp::error::need_more) {
            const bool limit = ec == bhttp::error::header_limit || ec == bhttp::error::body_limit;
            throw ClientError(
                limit ? ClientError::Kind::too_large : ClientError::Kind::protocol,
                "gev::http: bad response from " + u.authority() + ": " + ec.message());
          }
          if (p.is_header_done()) break;
        }
        if (!fill()) {
          if (!got_any) *stale = true;
          throw ClientError(
              ClientError::Kind::protocol,
              "gev::http: " + u.authority() + " closed the connection without a response");
        }
      }
      if (p.get().result_int() >= 100 && p.get().result_int() < 200 &&
          p.get().result_int() != 101) {
        fresh_parser();  // an interim 1xx: the real response follows
        continue;
      }
      break;
    }

    ClientResponse r;
    r.status = p.get().result_int();
    r.reason = std::string(p.get().reason());
    for (const auto& f : p.get()) r.headers.insert(f.name_string(), f.value());
    r.url = u.to_string();

    const std::string encoding =
        lower(std::string_view(p.get()[bhttp::field::content_encoding].data(),
                               p.get()[bhttp::field::content_encoding].size()));
    std::unique_ptr<Inflater> inflater;
    if (ro.decompress && (encoding == "gzip" || encoding == "x-gzip"))
      inflater = std::make_unique<Inflater>(true);
    if (ro.decompress && encoding == "deflate") inflater = std::make_unique<Inflater>(false);
    // A redirect that will be followed is not the answer: its body is read and dropped, and
    // only the final response reaches on_head and on_chunk.
    const bool followed_redirect =
        ro.follow_redirects && is_redirect(r.status) && !r.header("Location").empty();
    if (sinks.on_head && !followed_redirect) (*sinks.on_head)(r);
    std::optional<FileSink> file;
    if (sinks.on_file_head && !followed_redirect) {
      file.emplace((*sinks.on_file_head)(r), sinks.on_progress);
    }
    const bool plain = std::holds_alternative<net::Socket>(c.io);
    if (file && !inflater && plain && !p.chunked() && p.content_length_remaining() &&
        *p.content_length_remaining() >= splice_threshold && ro.method != "HEAD" &&
        r.status != 204 && r.status != 304) {
      splice_body(u, c, *p.content_length_remaining(), *file, bounded_read, keep);
      if (*keep) *keep = p.keep_alive();
      return r;
    }
    bool file_full = false;
    std::uint64_t delivered = 0;
    auto deliver = [&](std::string_view piece) {
      delivered += piece.size();
      if (delivered > ro.max_body_bytes) {
        throw ClientError(ClientError::Kind::too_large, "gev::http: body over max_body_bytes");
      }
      if (followed_redirect) return;
      if (file) {
        if (!file->write(piece) || file->full()) file_full = true;
      } else if (sinks.on_chunk) {
        (*sinks.on_chunk)(piece);
      } else {
        r.body.append(piece);
      }
    };

    char piece[65536];
    while (!p.is_done()) {
      p.get().body().data = piece;
      p.get().body().size = sizeof piece;
      p.get().body().more = true;
      std::size_t used = 1;
      bool produced = false;
      while (c.buffer.size() > 0 && used > 0 && !p.is_done()) {
        boost::system::error_code ec;
        used = p.put(c.buffer.data(), ec);
        c.buffer.consume(used);
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec && ec != bhttp::error::need_more) {
          throw ClientError(
              ec == bhttp::error::body_limit ? ClientError::Kind::too_large
                                             : ClientError::Kind::protocol,
              "gev::http: bad response body from " + u.authority() + ": " + ec.message());
        }
        const std::size_t n = sizeof piece - p.get().body().size;
        if (n > 0) {
          const std::string_view data(piece, n);
          if (inflater) {
            inflater->feed(data, deliver);
          } else {
            deliver(data);
          }
          produced = true;
          break;
        }
      }
      if (file_full && !p.is_done()) {
        *keep = false;  // the caller took what it wanted; the rest stays unread
        return r;
      }
      if (produced || p.is_done()) continue;
      if (!fill()) {
        boost::system::error_code ec;
        p.put_eof(ec);
        if (ec || !p.is_done()) {
          throw ClientError(
              ClientError::Kind::truncated,
              "gev::http: the response from " + u.authority() + " ended early (body truncated)");
        }
      }
    }
    if (inflater && !inflater->finished() && ro.method != "HEAD" && r.status != 204 &&
        r.status != 304) {
      throw ClientError(ClientError::Kind::truncated,
                        "gev::http: the compressed body from " + u.authority() + " is incomplete");
    }
    *keep = p.keep_alive() && c.buffer.size() == 0;
    return r;
  }

  // A Content-Length body of `remaining` bytes straight from the socket into the file: what
  // came with the header first, then splice(2) socket -> pipe -> file. Sets *keep when the
  // body was read to its end.
  template <class Bounded>
  void splice_body(const Url& u, Connection& c, std::uint64_t remaining, FileSink& file,
                   Bounded& bounded_read, bool* keep) {
    *keep = false;
    const std::size_t early =
        static_cast<std::size_t>(std::min<std::uint64_t>(c.buffer.size(), remaining));
    if (early > 0) {
      const auto data = c.buffer.data();
      const bool all = file.write(std::string_view(static_cast<const char*>(data.data()), early));
      c.buffer.consume(early);
      remaining -= early;
      if (!all || file.full()) return;
    }
    auto& sock = std::get<net::Socket>(c.io);
    Pipe pipe;
    char buf[16384];
    while (remaining > 0 && !file.full()) {
      const std::size_t want = static_cast<std::size_t>(
          std::min<std::uint64_t>({remaining, file.room(), std::uint64_t{1} << 20}));
      ssize_t n;
      if (!file.splice_refused()) {
        n = ::splice(sock.fileno(), nullptr, pipe.fd[1], nullptr, want,
                     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      } else {
        n = ::recv(sock.fileno(), buf, std::min(want, sizeof buf), MSG_DONTWAIT);
      }
      if (n > 0) {
        if (!file.splice_refused()) {
          file.splice_from(pipe.fd[0], static_cast<std::size_t>(n));
        } else {
          file.write(std::string_view(buf, static_cast<std::size_t>(n)));
        }
        remaining -= static_cast<std::uint64_t>(n);
        continue;
      }
      if (n == 0) {
        throw ClientError(
            ClientError::Kind::truncated,
            "gev::http: the response from " + u.authority() + " ended early (body truncated)");
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        throw ClientError(ClientError::Kind::connect,
                          "gev::http: reading from " + u.authority() + ": " + std::strerror(errno));
      }
      try {
        sock.wait_readable("recv", bounded_read());
      } catch (const net::timeout&) {
        throw ClientError(
            ClientError::Kind::timeout,
            "gev::http: timed out: no data from " + u.authority() + " within the read timeout");
      }
    }
    *keep = remaining == 0 && c.buffer.size() == 0;
  }

  static bool is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  }

  ClientResponse run(std::string_view url_text, RequestOptions ro, const Sinks& sinks) {
    auto url = parse_url(url_text);
    if (!url) {
      throw ClientError(ClientError::Kind::invalid_url,
                        "gev::http: not an absolute http(s) URL: " + std::string(url_text));
    }
    std::optional<Clock::time_point> deadline;
    if (ro.timeout) deadline = Clock::now() + *ro.timeout;
    int redirects = 0;
    for (;;) {
      const auto proxy = proxy_for(*url);
      const bool via_http_proxy = proxy && !url->is_https();
      // Plain-HTTP requests through a proxy share the proxy's connections.
      const std::string key =
          via_http_proxy ? "proxy:" + key_of(*proxy) : key_of(*url) + (proxy ? "+tunnel" : "");
      ClientResponse r;
      for (int attempt = 0;; ++attempt) {
        auto c = attempt == 0 ? take_idle(key) : nullptr;
        const bool reused = c != nullptr;
        if (!c) c = open(*url, ro, deadline);
        bool stale = false, keep = false;
        try {
          r = exchange(*url, ro, *c, static_cast<bool>(proxy), deadline, sinks, &stale, &keep);
        } catch (const ClientError&) {
          // A kept-alive connection the server had already closed: once more on a new one.
          if (reused && stale && attempt == 0) continue;
          throw;
        }
        r.reused_connection = reused;
        if (keep) give_back(key, std::move(c));
        break;
      }
      r.redirects = redirects;
      const std::string_view location = r.header("Location");
      if (!ro.follow_redirects || !is_redirect(r.status) || location.empty()) return r;
      if (++redirects > ro.max_redirects) {
        throw ClientError(ClientError::Kind::too_many_redirects,
                          "gev::http: more than " + std::to_string(ro.max_redirects) +
                              " redirects, the last to " + std::string(location));
      }
      auto next = resolve_location(*url, location);
      if (!next) {
        throw ClientError(ClientError::Kind::protocol,
                          "gev::http: bad redirect Location: " + std::string(location));
      }
      if (url->is_https() && !next->is_https() && !ro.allow_insecure_redirect) {
        throw ClientError(ClientError::Kind::insecure_redirect,
                          "gev::http: refusing the redirect from https to " + next->to_string());
      }
      if (r.status == 303 || ((r.status == 301 || r.status == 302) && ro.method == "POST")) {
        ro.method = "GET";
        ro.body.clear();
        std::erase_if(ro.headers, [](const auto& h) {
          const std::string k = lower(h.first);
          return k == "content-length" || k == "content-type";
        });
      }
      if (next->host != url->host) {  // credentials stay with their host
        std::erase_if(ro.headers, [](const auto& h) {
          const std::string k = lower(h.first);
          return k == "authorization" || k == "cookie";
        });
      }
      url = next;
    }
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
Client::~Client() = default;

ClientResponse Client::request(std::string_view url, const RequestOptions& options) {
  return impl_->run(url, options, Sinks{});
}
ClientResponse Client::get(std::string_view url, RequestOptions options) {
  options.method = "GET";
  return impl_->run(url, std::move(options), Sinks{});
}
ClientResponse Client::post(std::string_view url, std::string body, RequestOptions options) {
  options.method = "POST";
  options.body = std::move(body);
  return impl_->run(url, std::move(options), Sinks{});
}
ClientResponse Client::stream(std::string_view url,
                              const std::function<void(std::string_view)>& on_chunk,
                              RequestOptions options) {
  return impl_->run(url, std::move(options), Sinks{.on_chunk = &on_chunk});
}
ClientResponse Client::stream(std::string_view url,
                              const std::function<void(const ClientResponse&)>& on_head,
                              const std::function<void(std::string_view)>& on_chunk,
                              RequestOptions options) {
  return impl_->run(url, std::move(options), Sinks{.on_head = &on_head, .on_chunk = &on_chunk});
}
ClientResponse Client::stream_to_file(
    std::string_view url, const std::function<FileTarget(const ClientResponse&)>& on_head,
    const std::function<void(std::uint64_t)>& on_progress, RequestOptions options) {
  return impl_->run(url, std::move(options),
                    Sinks{.on_file_head = &on_head, .on_progress = &on_progress});
}

std::size_t Client::idle_connections() const {
  std::size_t n = 0;
  for (auto& [k, v] : impl_->idle) n += v.size();
  return n;
}
void Client::close_idle() {
  impl_->idle.clear();
}

namespace {
Client& default_client() {
  thread_local Client client;
  return client;
}
}  // namespace

ClientResponse request(std::string_view url, const RequestOptions& options) {
  return default_client().request(url, options);
}
ClientResponse get(std::string_view url, RequestOptions options) {
  return default_client().get(url, std::move(options));
}
ClientResponse post(std::string_view url, std::string body, RequestOptions options) {
  return default_client().post(url, std::move(body), std::move(options));
}

}  // namespace gev::http
