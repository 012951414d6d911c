#include "gev/http/server.hpp"

#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>
#include <csignal>
#include <cstring>
#include <future>
#include <list>
#include <string>
#include <string_view>
#include <type_traits>

#include "gev/hub/error_hook.hpp"
#include "gev/hub/hub_thread.hpp"
#include "gev/hub/park_timer.hpp"
#include "gev/net/ssl_context.hpp"
#include "gev/net/ssl_stream.hpp"
#include "gev/net/stream_server.hpp"
#include "gev/runtime/greenlet.hpp"
#include "gev/runtime/signal.hpp"
#include "gev/runtime/sleep.hpp"

namespace gev::http {

namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string_view sv(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

// "Date: ..." for the current second, formatted once per second per thread.
std::string_view http_date() {
  thread_local time_t cached_second = 0;
  thread_local char text[64];
  thread_local std::size_t length = 0;
  const time_t now = ::time(nullptr);
  if (now != cached_second) {
    tm t{};
    gmtime_r(&now, &t);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &t);
    cached_second = now;
  }
  return {text, length};
}

// A parse failure that ends the connection after an error response.
struct Reject {
  int status;
  const char* why;
};

// The framing checks RFC 9112 asks for and Beast does not do itself, on the raw header section
// (request line included, up to and including the blank line).
std::optional<Reject> check_raw_header(std::string_view head) {
  for (std::size_t i = 0; i < head.size(); ++i) {
    const char c = head[i];
    if (c == '\n' && (i == 0 || head[i - 1] != '\r')) return Reject{400, "bare LF"};
    if (c == '\r' && (i + 1 >= head.size() || head[i + 1] != '\n')) return Reject{400, "bare CR"};
    if (c == '\n' && i + 1 < head.size() && (head[i + 1] == ' ' || head[i + 1] == '\t')) {
      return Reject{400, "obs-fold"};
    }
    if (c == '\0') return Reject{400, "NUL in header"};
  }
  // Whitespace between a field name and its colon.
  std::size_t line = head.find("\r\n");
  while (line != std::string_view::npos && line + 2 < head.size()) {
    const std::size_t start = line + 2;
    const std::size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos || end == start) break;
    const std::string_view field = head.substr(start, end - start);
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) return Reject{400, "header line without a colon"};
    if (colon == 0 || field[colon - 1] == ' ' || field[colon - 1] == '\t') {
      return Reject{400, "whitespace before a header colon"};
    }
    line = end;
  }
  return std::nullopt;
}

// Checks on the parsed header that decide how the body is framed.
std::optional<Reject> check_framing(const bhttp::request_parser<bhttp::buffer_body>& p) {
  const auto& req = p.get();
  if (req.version() != 10 && req.version() != 11) return Reject{505, "HTTP version not supported"};
  std::size_t hosts = 0, lengths = 0, encodings = 0;
  std::string_view te;
  for (const auto& f : req) {
    if (f.name() == bhttp::field::host) ++hosts;
    if (f.name() == bhttp::field::content_length) ++lengths;
    if (f.name() == bhttp::field::transfer_encoding) {
      ++encodings;
      te = sv(f.value());
    }
  }
  if (req.version() == 11 && hosts != 1) return Reject{400, "exactly one Host header is required"};
  if (hosts > 1) return Reject{400, "repeated Host"};
  if (lengths > 1) return Reject{400, "repeated Content-Length"};
  if (encodings > 0) {
    if (lengths > 0) return Reject{400, "Content-Length with Transfer-Encoding"};
    if (req.version() < 11) return Reject{400, "Transfer-Encoding in HTTP/1.0"};
    if (encodings > 1 || !iequals(te, "chunked")) {
      return Reject{501, "Transfer-Encoding other than chunked"};
    }
  }
  return std::nullopt;
}

int status_for(const boost::system::error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  return 400;
}

template <class Stream>
constexpr bool is_plain_socket = std::is_same_v<Stream, net::Socket>;

}  // namespace

// ---- the server ------------------------------------------------------------------------------

struct Server::Impl {
  net::Address address;
  Handler handler;
  ServerOptions options;
  std::shared_ptr<const net::ssl::Context> tls;  // HTTPS: for the workers
  // Workers beyond this hub: each a hub thread with its own Server on the same port.
  struct Worker {
    HubThread thread{"gev-http-worker"};
    Server* server = nullptr;  // lives on the worker's thread
  };
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<net::StreamServer> server;
  std::uint64_t served = 0;
  bool stopping = false;

  // Connections waiting for their next request: stop() ends them at once.
  struct Idle {
    GreenletBase* greenlet = nullptr;
    bool idle = false;
  };
  std::list<Idle*> connections;

  template <class Stream>
  void serve(Stream& stream, const net::Address& peer);
};

namespace {

template <class Stream>
class Connection final : public detail::BodySource {
 public:
  Connection(Server::Impl& server, Stream& stream, const net::Address& peer)
      : server_(server), opt_(server.options), stream_(stream), peer_(peer) {
    buffer_.reserve(4096);
  }

  void run();

  std::size_t read_body(char* out, std::size_t size) override;

  template <class Buffers>
  void write_buffers(const Buffers& b) {
    stream_.settimeout(opt_.send_timeout);
    boost::asio::write(stream_, b);
  }

 private:
  bool read_header();  // false: the connection ends (closed, idle timeout, rejected)
  bool fill(Clock::time_point deadline, int timeout_status);  // more bytes; false at EOF
  void reject(int status, const char* why);
  void send_continue_if_needed();
  void write_response(Request& req, Response& resp, bool keep_alive);
  void write_all(const void* data, std::size_t n);
  bool drain_body();
  void log_access(const Request& req, int status, std::uint64_t bytes);
  void write_log(std::string_view request_line, int status, std::uint64_t bytes,
                 std::string_view referer, std::string_view agent);
  void linger();

 public:
  bool* idle_flag = nullptr;  // cleared when the first byte of a request arrives

 private:
  std::string request_line_;  // "GET /x HTTP/1.1" of the current request, for the log

  Server::Impl& server_;
  const ServerOptions& opt_;
  Stream& stream_;
  net::Address peer_;
  boost::beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  bool continue_pending_ = false;
  bool drained_ = false;  // the last read was short: the socket is probably empty
  bool body_started_ = false;
  bool body_error_ = false;
  std::string head_;  // response header under construction (reused)
};

template <class Stream>
bool Connection<Stream>::fill(Clock::time_point deadline, int timeout_status) {
  const auto left = deadline - Clock::now();
  if (left <= Duration::zero()) throw RequestError(timeout_status, "timed out");
  stream_.settimeout(left);
  if constexpr (is_plain_socket<Stream>) {
    // The last read came back short, so the socket is most likely empty: wait for readiness
    // instead of paying for a read that says EAGAIN (one syscall per request saved).
    if (drained_) {
      try {
        stream_.wait_readable("recv", left);
      } catch (const net::timeout&) {
        throw RequestError(timeout_status, "timed out");
      }
    }
  }
  constexpr std::size_t kReadSize = 16384;
  boost::system::error_code ec;
  const std::size_t n = stream_.read_some(buffer_.prepare(kReadSize), ec);
  if (ec == boost::asio::error::eof) return false;
  if (ec == boost::system::errc::timed_out) throw RequestError(timeout_status, "timed out");
  if (ec) throw boost::system::system_error(ec);
  buffer_.commit(n);
  drained_ = n < kReadSize;
  return n > 0;
}

template <class Stream>
void Connection<Stream>::reject(int status, const char* why) {
  Response r = Response::error(status);
  r.body = std::string("<h1>") + std::to_string(status) + " " + std::string(reason_phrase(status)) +
           "</h1>\n<p>" + why + "</p>\n";
  head_.clear();
  head_ += "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  head_ +=
      "Content-Type: text/html; charset=utf-8\r\nContent-Length: " + std::to_string(r.body.size()) +
      "\r\nConnection: close\r\n";
  head_ += "Date: ";
  head_ += http_date();
  head_ += "\r\n\r\n";
  try {
    std::array<boost::asio::const_buffer, 2> b{boost::asio::buffer(head_),
                                               boost::asio::buffer(r.body)};
    write_buffers(b);
  } catch (const std::exception&) {
    // The client is gone or not reading: the connection ends either way.
  }
  // The request line, if one arrived, for the log.
  const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  const std::size_t eol = data.find("\r\n");
  std::string_view line =
      eol == std::string_view::npos || eol > 8192 ? std::string_view("-") : data.substr(0, eol);
  if (!request_line_.empty()) line = request_line_;
  (void)why;
  write_log(line, status, r.body.size(), {}, {});
  // Linger only when a body may still be on its way (not for a slow or oversized header).
  if (status == 413 || (parser_ && parser_->is_header_done() && !parser_->is_done())) linger();
}

// Closing while the client may still be sending (a rejected or unread body) makes the kernel
// answer its data with a reset, which can destroy the response before the client reads it.
// Like nginx's lingering close: stop writing, then read and drop what comes, for a while.
template <class Stream>
void Connection<Stream>::linger() {
  try {
    if constexpr (is_plain_socket<Stream>) stream_.shutdown(SHUT_WR);
    const auto until = Clock::now() + std::chrono::seconds(5);
    char sink[65536];
    std::uint64_t dropped = 0;
    while (dropped < (std::uint64_t{64} << 20)) {
      const auto left = until - Clock::now();
      if (left <= Duration::zero()) break;
      stream_.settimeout(std::min<Duration>(left, std::chrono::seconds(2)));
      boost::system::error_code ec;
      const std::size_t n = stream_.read_some(boost::asio::buffer(sink), ec);
      if (ec || n == 0) break;
      dropped += n;
    }
  } catch (const std::exception&) {
    // Gone already: nothing to protect.
  }
}

template <class Stream>
bool Connection<Stream>::read_header() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(opt_.max_header_bytes));
  parser_->body_limit(opt_.max_body_bytes);
  continue_pending_ = body_started_ = body_error_ = false;
  request_line_.clear();

  Clock::time_point deadline;
  if (buffer_.size() == 0) {
    // Idle: wait for the first byte of the next request (keep-alive timeout: just close).
    try {
      if (!fill(Clock::now() + opt_.keepalive_timeout, 0)) return false;
    } catch (const RequestError&) {
      return false;
    }
  }
  if (idle_flag) *idle_flag = false;  // a request is arriving: stop() lets it finish
  deadline = Clock::now() + opt_.header_timeout;
  for (;;) {
    const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    // Request line length (414) before the header limit (431).
    const std::size_t eol = data.find('\n');
    if ((eol == std::string_view::npos && data.size() > opt_.max_request_line) ||
        (eol != std::string_view::npos && eol > opt_.max_request_line)) {
      reject(414, "request line too long");
      return false;
    }
    const std::size_t end = data.find("\r\n\r\n");
    if ((end == std::string_view::npos && data.size() > opt_.max_header_bytes) ||
        (end != std::string_view::npos && end + 4 > opt_.max_header_bytes)) {
      reject(431, "request header section too large");
      return false;
    }
    if (end != std::string_view::npos) {
      request_line_.assign(data.substr(0, data.find("\r\n")));  // for the log
      {
        if (auto bad = check_raw_header(data.substr(0, end + 4))) {
          reject(bad->status, bad->why);
          return false;
        }
      }
      boost::system::error_code ec;
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec && ec != bhttp::error::need_more) {
        reject(status_for(ec), ec.message().c_str());
        return false;
      }
      if (parser_->is_header_done()) break;
    } else if (data.find('\n') != std::string_view::npos) {
      // Bare LF line endings never reach "\r\n\r\n": catch them early.
      if (auto bad = check_raw_header(data.substr(0, data.rfind('\n') + 1))) {
        if (std::string_view(bad->why) != "bare CR") {
          reject(bad->status, bad->why);
          return false;
        }
      }
    }
    try {
      if (!fill(deadline, 408)) {
        if (buffer_.size() > 0) reject(400, "connection closed inside a request header");
        return false;
      }
    } catch (const RequestError& e) {
      reject(e.status(), "request header not complete in time");
      return false;
    }
  }
  {
    const auto& m = parser_->get();
    request_line_.assign(m.method_string().data(), m.method_string().size());
    request_line_ += ' ';
    request_line_.append(m.target().data(), m.target().size());
    request_line_ += m.version() == 10 ? " HTTP/1.0" : " HTTP/1.1";
  }
  std::size_t count = 0;
  for (auto it = parser_->get().begin(); it != parser_->get().end(); ++it) ++count;
  if (count > opt_.max_header_count) {
    reject(431, "too many header fields");
    return false;
  }
  if (auto bad = check_framing(*parser_)) {
    reject(bad->status, bad->why);
    return false;
  }
  const auto expect = parser_->get()[bhttp::field::expect];
  if (!expect.empty()) {
    if (!iequals(sv(expect), "100-continue")) {
      reject(417, "unsupported Expect");
      return false;
    }
    continue_pending_ = parser_->get().version() >= 11 && !parser_->is_done();
  }
  return true;
}

template <class Stream>
void Connection<Stream>::send_continue_if_needed() {
  if (!continue_pending_) return;
  continue_pending_ = false;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  stream_.settimeout(opt_.send_timeout);
  write_all(kContinue.data(), kContinue.size());
}

template <class Stream>
std::size_t Connection<Stream>::read_body(char* out, std::size_t size) {
  if (body_error_) throw RequestError(400, "the request body failed earlier");
  auto& p = *parser_;
  if (p.is_done()) return 0;
  body_started_ = true;
  send_continue_if_needed();
  for (;;) {
    p.get().body().data = out;
    p.get().body().size = size;
    p.get().body().more = true;
    // Beast's put() stops after each chunk header and each piece of body: keep feeding it
    // what is buffered until it produces bytes, finishes, or needs more input.
    std::size_t used = 1;
    while (buffer_.size() > 0 && used > 0) {
      boost::system::error_code ec;
      used = p.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec && ec != bhttp::error::need_more) {
        body_error_ = true;
        throw RequestError(status_for(ec), "request body: " + ec.message());
      }
      const std::size_t got = size - p.get().body().size;
      if (got > 0 || p.is_done()) return got;
    }
    bool more = false;
    try {
      more = fill(Clock::now() + opt_.body_timeout, 408);
    } catch (...) {
      body_error_ = true;
      throw;
    }
    if (!more) {
      boost::system::error_code ec;
      p.put_eof(ec);
      if (ec || !p.is_done()) {
        body_error_ = true;
        throw RequestError(400, "connection closed inside the request body");
      }
      return 0;
    }
  }
}

template <class Stream>
bool Connection<Stream>::drain_body() {
  auto& p = *parser_;
  if (p.is_done()) return true;
  if (body_error_ || continue_pending_) return false;
  if (auto len = p.content_length_remaining(); len && *len > opt_.max_drain_bytes) return false;
  char sink[16384];
  std::uint64_t drained = 0;
  try {
    for (;;) {
      const std::size_t n = read_body(sink, sizeof sink);
      if (n == 0) return true;
      drained += n;
      if (drained > opt_.max_drain_bytes) return false;
    }
  } catch (const std::exception&) {
    return false;
  }
}

template <class Stream>
void Connection<Stream>::write_all(const void* data, std::size_t n) {
  write_buffers(boost::asio::buffer(data, n));
}

// The raw connection after a 101: the bytes already buffered come first.
template <class Stream>
class TunnelOver final : public Tunnel {
 public:
  TunnelOver(Stream& s, boost::beast::flat_buffer& b) : stream_(s), buffer_(b) {
    stream_.settimeout(std::nullopt);
  }
  std::size_t recv(char* out, std::size_t size) override {
    if (buffer_.size() > 0) {
      const std::size_t n = std::min(size, buffer_.size());
      std::memcpy(out, buffer_.data().data(), n);
      buffer_.consume(n);
      return n;
    }
    boost::system::error_code ec;
    const std::size_t n = stream_.read_some(boost::asio::buffer(out, size), ec);
    if (ec == boost::asio::error::eof) return 0;
    if (ec) throw boost::system::system_error(ec, "gev::http::Tunnel::recv");
    return n;
  }
  void sendall(std::string_view data) override {
    boost::asio::write(stream_, boost::asio::buffer(data.data(), data.size()));
  }
  void settimeout(std::optional<std::chrono::nanoseconds> t) override { stream_.settimeout(t); }

 private:
  Stream& stream_;
  boost::beast::flat_buffer& buffer_;
};

template <class Stream>
class ChunkWriter final : public BodyWriter {
 public:
  explicit ChunkWriter(Connection<Stream>& c, bool chunked, std::uint64_t& bytes)
      : c_(c), chunked_(chunked), bytes_(bytes) {}
  void write(std::string_view piece) override {
    if (piece.empty()) return;
    bytes_ += piece.size();
    if (!chunked_) {
      write_raw(piece.data(), piece.size());
      return;
    }
    char size_line[32];
    const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
    std::array<boost::asio::const_buffer, 3> b{boost::asio::buffer(size_line, n),
                                               boost::asio::buffer(piece.data(), piece.size()),
                                               boost::asio::buffer("\r\n", 2)};
    c_.write_buffers(b);
  }
  void write_raw(const void* d, std::size_t n) { c_.write_buffers(boost::asio::buffer(d, n)); }

 private:
  Connection<Stream>& c_;
  bool chunked_;
  std::uint64_t& bytes_;
};

template <class Stream>
void Connection<Stream>::write_response(Request& req, Response& resp, bool keep_alive) {
  const int status = resp.status;
  const bool head_request = req.verb() == bhttp::verb::head;
  const bool no_body = status < 200 || status == 204 || status == 304;
  const bool http11 = req.version() >= 11;
  const bool streamed = static_cast<bool>(resp.producer) && !resp.file;
  const bool chunked = streamed && http11 && !no_body;
  if (streamed && !http11) keep_alive = false;  // the body ends with the connection

  std::uint64_t length = 0;
  if (resp.file) {
    length = resp.file->length;
  } else if (!streamed) {
    length = resp.body.size();
  }
  head_.clear();
  head_ += http11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  head_ += std::to_string(status);
  head_ += ' ';
  head_ += reason_phrase(status);
  head_ += "\r\n";
  for (const auto& f : resp.headers) {
    const auto name = f.name();
    if (name == bhttp::field::content_length || name == bhttp::field::transfer_encoding ||
        name == bhttp::field::connection || name == bhttp::field::date) {
      continue;  // the server frames the message itself
    }
    head_ += sv(f.name_string());
    head_ += ": ";
    head_ += sv(f.value());
    head_ += "\r\n";
  }
  head_ += "Date: ";
  head_ += http_date();
  head_ += "\r\n";
  if (!opt_.server_header.empty() &&
      resp.headers.find(bhttp::field::server) == resp.headers.end()) {
    head_ += "Server: ";
    head_ += opt_.server_header;
    head_ += "\r\n";
  }
  if (!no_body) {
    if (chunked) {
      head_ += "Transfer-Encoding: chunked\r\n";
    } else if (!streamed) {
      head_ += "Content-Length: ";
      head_ += std::to_string(length);
      head_ += "\r\n";
    }
  }
  if (status == 101) {
    head_ += "Connection: Upgrade\r\n";
  } else if (!keep_alive) {
    head_ += "Connection: close\r\n";
  } else if (!http11) {
    head_ += "Connection: keep-alive\r\n";
  }
  head_ += "\r\n";

  std::uint64_t sent = 0;
  if (head_request || no_body) {
    write_all(head_.data(), head_.size());
  } else if (resp.file) {
    write_all(head_.data(), head_.size());
    FileBody& f = *resp.file;
    if constexpr (is_plain_socket<Stream>) {
      // send_timeout bounds each piece, not the whole file: a slow client may take long.
      constexpr std::uint64_t kPiece = 1 << 20;
      while (sent < f.length) {
        stream_.settimeout(opt_.send_timeout);
        const std::uint64_t want = std::min(kPiece, f.length - sent);
        const std::uint64_t n = stream_.sendfile(f.fd, f.offset + sent, want);
        sent += n;
        if (n < want) break;  // the file ended early
      }
    } else {
      char chunk[65536];
      std::uint64_t off = f.offset, left = f.length;
      while (left > 0) {
        const ssize_t n = ::pread(f.fd, chunk, std::min<std::uint64_t>(left, sizeof chunk),
                                  static_cast<off_t>(off));
        if (n <= 0) break;
        write_all(chunk, static_cast<std::size_t>(n));
        off += static_cast<std::uint64_t>(n);
        left -= static_cast<std::uint64_t>(n);
        sent += static_cast<std::uint64_t>(n);
      }
    }
    if (sent != f.length) throw std::runtime_error("file shorter than announced");
  } else if (streamed) {
    write_all(head_.data(), head_.size());
    ChunkWriter<Stream> writer(*this, chunked, sent);
    resp.producer(writer);
    if (chunked) write_all("0\r\n\r\n", 5);
  } else {
    std::array<boost::asio::const_buffer, 2> b{boost::asio::buffer(head_),
                                               boost::asio::buffer(resp.body)};
    write_buffers(b);
    sent = resp.body.size();
  }
  log_access(req, status, sent);
}

template <class Stream>
void Connection<Stream>::log_access(const Request& req, int status, std::uint64_t bytes) {
  if (opt_.access_log == nullptr) return;
  write_log(request_line_, status, bytes, req.header("Referer"), req.header("User-Agent"));
}

// One line of Apache's combined format. Quotes, backslashes and control bytes in the fields a
// client chooses are escaped (as Apache does), so a request cannot forge log fields or lines.
template <class Stream>
void Connection<Stream>::write_log(std::string_view request_line, int status, std::uint64_t bytes,
                                   std::string_view referer, std::string_view agent) {
  if (opt_.access_log == nullptr) return;
  auto escaped = [](std::string_view v) {
    if (v.empty()) return std::string("-");
    std::string out;
    out.reserve(v.size());
    for (unsigned char c : v) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c >= 0x7f) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", c);
        out += hex;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out;
  };
  char when[64];
  const time_t now = ::time(nullptr);
  tm t{};
  localtime_r(&now, &t);
  std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &t);
  std::fprintf(opt_.access_log, "%s - - [%s] \"%s\" %d %llu \"%s\" \"%s\"\n", peer_.host().c_str(),
               when, escaped(request_line).c_str(), status, static_cast<unsigned long long>(bytes),
               escaped(referer).c_str(), escaped(agent).c_str());
  std::fflush(opt_.access_log);  // a line per request, never lost in a buffer
}

template <class Stream>
void Connection<Stream>::run() {
  Server::Impl::Idle idle{getcurrent(), true};
  idle_flag = &idle.idle;
  server_.connections.push_back(&idle);
  struct Unregister {
    Server::Impl& s;
    Server::Impl::Idle* i;
    ~Unregister() { s.connections.remove(i); }
  } unregister{server_, &idle};

  for (std::size_t n = 0; n < opt_.max_requests_per_connection; ++n) {
    idle.idle = buffer_.size() == 0;
    if (server_.stopping && idle.idle) return;
    bool got;
    try {
      got = read_header();
    } catch (const boost::system::system_error&) {
      return;  // reset or closed by the peer
    }
    idle.idle = false;
    if (!got) return;
    auto& msg = parser_->get();
    Request req(msg.method(), std::string(sv(msg.method_string())), std::string(sv(msg.target())),
                msg.version(), msg.base(), peer_, this);
    bool keep_alive = msg.keep_alive() && n + 1 < opt_.max_requests_per_connection;
    Response resp;
    try {
      resp = server_.handler(req);
    } catch (const GreenletExit&) {
      throw;
    } catch (const RequestError& e) {
      resp = Response::error(e.status());
      keep_alive = false;
    } catch (const boost::system::system_error&) {
      return;  // the client went away while the handler read the body
    } catch (...) {
      report_error("gev::http::Server handler for " + req.method() + " " + req.target(),
                   std::current_exception());
      resp = Response::error(500);
      keep_alive = false;
    }
    ++server_.served;
    // An unread body: what is left must be read and dropped before the next request, or the
    // connection closed. Decided before the response so that it can say "Connection: close".
    if (!parser_->is_done() && (continue_pending_ || body_error_)) keep_alive = false;
    if (auto len = parser_->content_length_remaining();
        !parser_->is_done() && len && *len > opt_.max_drain_bytes) {
      keep_alive = false;
    }
    if (server_.stopping) keep_alive = false;
    try {
      write_response(req, resp, keep_alive);
    } catch (const GreenletExit&) {
      throw;
    } catch (const std::exception&) {
      return;  // the client is gone or stopped reading
    }
    if (resp.status == 101 && resp.on_upgrade) {
      TunnelOver<Stream> tunnel(stream_, buffer_);
      resp.on_upgrade(tunnel);
      return;
    }
    if (!keep_alive) {
      if (!parser_->is_done()) linger();  // the client may still be sending its body
      return;
    }
    if (!drain_body()) {
      linger();
      return;
    }
  }
}

}  // namespace

template <class Stream>
void Server::Impl::serve(Stream& stream, const net::Address& peer) {
  Connection<Stream> c(*this, stream, peer);
  c.run();
}

void detail::serve_connection(net::Socket& socket, const net::Address& peer, const Handler& handler,
                              const ServerOptions& options) {
  Server::Impl impl;
  impl.handler = handler;
  impl.options = options;
  impl.serve(socket, peer);
}

namespace {
// What both constructors check and set up; returns the StreamServer options to use.
net::StreamServerOptions prepare(Server::Impl& impl, net::Address address, Handler handler,
                                 ServerOptions options) {
  if (!handler) throw std::invalid_argument("gev::http::Server: empty handler");
  if (options.workers == 0) throw std::invalid_argument("gev::http::Server: workers must be >= 1");
  if (options.workers > 1) options.reuse_port = true;
  impl.address = address;
  impl.handler = std::move(handler);
  impl.options = std::move(options);
  net::StreamServerOptions so;
  so.max_connections = impl.options.max_connections;
  so.reuse_port = impl.options.reuse_port;
  so.handshake_timeout = impl.options.tls_handshake_timeout;
  return so;
}
}  // namespace

Server::Server(net::Address address, Handler handler, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  const auto so = prepare(*impl_, address, std::move(handler), std::move(options));
  Impl* impl = impl_.get();
  impl_->server = std::make_unique<net::StreamServer>(
      address, [impl](net::Socket& s, const net::Address& peer) { impl->serve(s, peer); }, so);
}

Server::Server(net::Address address, const net::ssl::Context& tls, Handler handler,
               ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  const auto so = prepare(*impl_, address, std::move(handler), std::move(options));
  impl_->tls = std::make_shared<const net::ssl::Context>(tls);
  Impl* impl = impl_.get();
  impl_->server = std::make_unique<net::StreamServer>(
      address, tls, [impl](net::ssl::Stream& s, const net::Address& peer) { impl->serve(s, peer); },
      so);
}

Server::~Server() {
  if (impl_ && impl_->server && impl_->server->started()) stop(Duration::zero());
}

void Server::start() {
  if (impl_->server->started()) return;
  impl_->server->start();
  // The workers bind the port this hub got (port 0 resolved), with SO_REUSEPORT.
  ServerOptions one = impl_->options;
  one.workers = 1;
  one.handle_signals = false;
  const net::Address bound = impl_->server->address();
  // Several hubs compete for the cores: the hub's poll spin (which pays off when one hub has a
  // core to itself) would only take CPU time from the other workers.
  if (impl_->options.workers > 1) Hub::current().set_poll_spin(Duration::zero());
  for (unsigned i = 1; i < impl_->options.workers; ++i) {
    auto w = std::make_unique<Impl::Worker>();
    Handler h = impl_->handler;
    std::shared_ptr<const net::ssl::Context> tls = impl_->tls;
    w->server = w->thread
                    .submit([bound, h, one, tls]() -> Server* {
                      Hub::current().set_poll_spin(Duration::zero());
                      auto s = tls ? std::make_unique<Server>(bound, *tls, h, one)
                                   : std::make_unique<Server>(bound, h, one);
                      s->start();
                      return s.release();
                    })
                    .get();  // brief: binding and listening
    impl_->workers.push_back(std::move(w));
  }
}

void Server::serve_forever() {
  start();
  std::optional<SignalHandler> on_term, on_quit;
  if (impl_->options.handle_signals) {
    auto on_signal = [this] {
      if (!impl_->stopping) {
        stop(impl_->options.graceful_timeout);
        return;
      }
      // A second signal: end every connection now; the first stop() then returns at once.
      for (Impl::Idle* c : std::list<Impl::Idle*>(impl_->connections)) {
        if (c->greenlet != nullptr) c->greenlet->kill(KillOptions{.block = false});
      }
    };
    on_term.emplace(signal_handler(SIGTERM, on_signal));
    on_quit.emplace(signal_handler(SIGQUIT, on_signal));
  }
  impl_->server->serve_forever();
  if (on_term) on_term->cancel();
  if (on_quit) on_quit->cancel();
}

bool Server::stop(std::optional<Duration> timeout) {
  impl_->stopping = true;
  // Idle keep-alive connections end now; the others finish their request and then close.
  for (Impl::Idle* c : std::list<Impl::Idle*>(impl_->connections)) {
    if (c->idle && c->greenlet != nullptr) c->greenlet->kill(KillOptions{.block = false});
  }
  // The workers stop in parallel on their own threads; this greenlet waits cooperatively.
  std::vector<std::future<bool>> worker_stops;
  for (auto& w : impl_->workers) {
    Server* s = std::exchange(w->server, nullptr);
    if (s == nullptr) continue;
    worker_stops.push_back(w->thread.submit([s, timeout] {
      std::unique_ptr<Server> owned(s);
      return owned->stop(timeout);
    }));
  }
  bool clean = impl_->server->stop(timeout);
  const auto give_up =
      Clock::now() + timeout.value_or(std::chrono::hours(24)) + std::chrono::seconds(5);
  for (auto& f : worker_stops) {
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready &&
           Clock::now() < give_up) {
      gev::sleep(std::chrono::milliseconds(2));
    }
    if (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      clean = false;
      continue;  // the worker's HubThread destructor kills what is left
    }
    try {
      clean = f.get() && clean;
    } catch (...) {
      clean = false;
    }
  }
  impl_->workers.clear();  // joins the worker threads
  return clean;
}

const net::Address& Server::address() const {
  return impl_->server->address();
}
bool Server::started() const noexcept {
  return impl_->server->started();
}
std::size_t Server::connections() const noexcept {
  return impl_->server->connections();
}
std::uint64_t Server::requests_served() const noexcept {
  return impl_->served;
}
std::size_t Server::workers_running() const noexcept {
  return impl_->workers.size();
}

}  // namespace gev::http
