#include "gev/net/ssl_stream.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "gev/hub/park_timer.hpp"
#include "gev/runtime/event.hpp"

namespace gev::net::ssl {

namespace {
struct Busy;
}

// ---- the connection state -----------------------------------------------------------------------

struct detail::StreamState {
  Socket sock;
  Context context;
  SSL* ssl = nullptr;
  Role role = Role::client;
  std::string server_hostname;
  std::string peer;       // "127.0.0.1:443", for messages
  std::string peer_host;  // "127.0.0.1"
  int last_errno = 0;     // the socket error behind SSL_ERROR_SYSCALL
  bool peer_eof = false;  // recv() returned 0 (the BIO's EOF)
  bool handshake_done = false;
  bool broken = false;  // a fatal TLS or transport error: no close_notify any more
  bool sent_close_notify = false;
  bool eof = false;  // recv reported the end of stream
  bool ragged = false;
  bool suppress_ragged_eofs = true;
  // A write was interrupted (timeout, kill, EAGAIN...) while OpenSSL held part of a TLS record:
  // with SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER a later SSL_write would send that record's bytes in
  // place of its own, so every later write (and close_notify) is refused.
  bool write_interrupted = false;
  bool handshaking = false;   // a greenlet runs the handshake; others wait for handshake_event
  int busy = 0;               // operations in progress (parked) on this stream
  Busy* busy_list = nullptr;  // their guards, naming the greenlets (see Stream::check_not_busy)
  Event handshake_event;      // set when a handshake attempt ends
  char gather[Stream::kGatherSize];

  StreamState(Socket s, Context c, Role r) : sock(std::move(s)), context(std::move(c)), role(r) {}
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;
  ~StreamState() {
    if (ssl) SSL_free(ssl);
  }

  // "with localhost (127.0.0.1:443)", "with client 127.0.0.1:5555"
  std::string with() const {
    std::string out = "with ";
    if (role == Role::server) {
      out += "client ";
      out += peer.empty() ? std::string("?") : peer;
    } else if (server_hostname.empty() || peer.empty() || peer_host == server_hostname) {
      out += peer.empty() ? server_hostname : peer;
    } else {
      out += server_hostname + " (" + peer + ")";
    }
    return out;
  }
};

namespace {

using State = detail::StreamState;
using Clock = std::chrono::steady_clock;

// ---- a BIO on the socket's descriptor that never blocks and never raises SIGPIPE ----------------
// OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE on a closed peer; this one
// sends with MSG_NOSIGNAL and records the errno behind a failure for the error message.

State* impl_of(BIO* bio) {
  return static_cast<State*>(BIO_get_data(bio));
}

int bio_write(BIO* bio, const char* data, int size) {
  State* s = impl_of(bio);
  BIO_clear_retry_flags(bio);
  for (;;) {
    ssize_t n = ::send(s->sock.fileno(), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(bio);
    } else {
      s->last_errno = errno;
    }
    return -1;
  }
}

int bio_read(BIO* bio, char* buffer, int size) {
  State* s = impl_of(bio);
  BIO_clear_retry_flags(bio);
  for (;;) {
    ssize_t n = ::recv(s->sock.fileno(), buffer, static_cast<std::size_t>(size), 0);
    if (n > 0) return static_cast<int>(n);
    if (n == 0) {
      s->peer_eof = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(bio);
    } else {
      s->last_errno = errno;
    }
    return -1;
  }
}

long bio_ctrl(BIO* bio, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_EOF:  // lets OpenSSL tell a ragged EOF from other failures
      return impl_of(bio)->peer_eof ? 1 : 0;
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

class BioMethod {
 public:
  BioMethod() {
    method_ = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gev::net::Socket");
    if (method_ == nullptr) return;
    BIO_meth_set_write(method_, &bio_write);
    BIO_meth_set_read(method_, &bio_read);
    BIO_meth_set_ctrl(method_, &bio_ctrl);
    BIO_meth_set_create(method_, &bio_create);
  }
  BioMethod(const BioMethod&) = delete;
  BioMethod& operator=(const BioMethod&) = delete;
  ~BioMethod() { BIO_meth_free(method_); }
  BIO_METHOD* get() const { return method_; }

 private:
  BIO_METHOD* method_ = nullptr;
};

const BIO_METHOD* socket_bio_method() {
  static const BioMethod method;
  return method.get();
}

// ---- deadlines and waiting ----------------------------------------------------------------------

std::string seconds_text(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(d.count()) * 1e-9);
  return buf;
}

// One deadline for all the waits of one operation.
struct Deadline {
  std::optional<Duration> timeout;
  std::optional<Clock::time_point> at;
  explicit Deadline(std::optional<Duration> t) : timeout(t) {
    if (t && t->count() > 0) at = deadline_after(*t);
  }
};

[[noreturn]] void throw_timeout(const State& s, const char* operation, const Deadline& dl) {
  throw net::timeout(std::string("gev::net::ssl: ") + operation + " " + s.with() +
                     " timed out after " + seconds_text(*dl.timeout));
}

// Parks until the socket is ready for what OpenSSL asked (SSL_ERROR_WANT_READ / _WRITE).
void wait_for(State& s, int ssl_error, const char* operation, const Deadline& dl) {
  std::optional<Duration> left = dl.timeout;  // nullopt: forever; zero: EAGAIN at once
  if (dl.at) {
    left = std::chrono::duration_cast<Duration>(*dl.at - Clock::now());
    if (left->count() <= 0) throw_timeout(s, operation, dl);
  }
  try {
    if (ssl_error == SSL_ERROR_WANT_WRITE) {
      s.sock.wait_writable(operation, left);
    } else {
      s.sock.wait_readable(operation, left);
    }
  } catch (const net::timeout&) {
    throw_timeout(s, operation, dl);
  }
}

// The running greenlet (nullptr off any hub).
gev::detail::Fiber* current_fiber() noexcept {
  Hub* hub = Hub::current_if_exists();
  return hub ? &hub->current_fiber() : nullptr;
}

// Counts an operation in progress, so close() from another greenlet leaves the session alone,
// and names its greenlet, so destroying the stream under a parked greenlet fails at once.
struct Busy {
  State& s;
  gev::detail::Fiber* fiber;
  Busy* prev = nullptr;
  Busy* next;
  explicit Busy(State& impl) : s(impl), fiber(current_fiber()), next(impl.busy_list) {
    ++s.busy;
    if (next) next->prev = this;
    s.busy_list = this;
  }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;
  ~Busy() {
    --s.busy;
    if (prev) {
      prev->next = next;
    } else {
      s.busy_list = next;
    }
    if (next) next->prev = prev;
  }
};

// Is a greenlet other than the caller inside an operation on this stream?
bool busy_elsewhere(const State& s) noexcept {
  gev::detail::Fiber* self = current_fiber();
  for (const Busy* b = s.busy_list; b; b = b->next) {
    if (b->fiber != self) return true;
  }
  return false;
}

[[noreturn]] void throw_write_interrupted(const State& s, const char* operation) {
  throw std::system_error(EPIPE, std::generic_category(),
                          std::string("gev::net::ssl: ") + operation + " " + s.with() +
                              ": the stream's write side is unusable after an interrupted write "
                              "(part of a TLS record may be sent); close the stream");
}

bool is_want(int ssl_error) {
  return ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE;
}

// Before each SSL call: the error queue and errno it leaves are what we read after it.
void start_call(State& s) {
  ERR_clear_error();
  s.last_errno = 0;
}

// The peer closed the connection without close_notify: OpenSSL 3 reports
// SSL_R_UNEXPECTED_EOF_WHILE_READING (or, with an empty queue, SSL_ERROR_SYSCALL and no errno).
bool is_ragged_eof(const State& s, int ssl_error) {
  if (ssl_error == SSL_ERROR_SYSCALL) return s.last_errno == 0 && ERR_peek_error() == 0;
  if (ssl_error != SSL_ERROR_SSL) return false;
  const unsigned long e = ERR_peek_error();
  return ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

std::string name_text(X509_NAME* name) {
  if (name == nullptr) return {};
  BIO* mem = BIO_new(BIO_s_mem());
  if (mem == nullptr) return {};
  std::string out;
  if (X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long n = BIO_get_mem_data(mem, &data);
    if (n > 0 && data) out.assign(data, static_cast<std::size_t>(n));
  }
  BIO_free(mem);
  return out;
}

// The peer's leaf certificate, even while the handshake that received it is failing.
X509* peer_leaf(SSL* ssl) {
  if (X509* leaf = SSL_get0_peer_certificate(ssl)) return leaf;
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  if (chain && sk_X509_num(chain) > 0) return sk_X509_value(chain, 0);
  return nullptr;
}

[[noreturn]] void throw_certificate_error(State& s, const char* operation) {
  ERR_clear_error();
  const long code = SSL_get_verify_result(s.ssl);
  std::string reason = X509_verify_cert_error_string(code);
  std::string notes;
  if (code == X509_V_ERR_HOSTNAME_MISMATCH || code == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    notes = "not valid for '" + s.server_hostname + "'";
  }
  if (X509* leaf = peer_leaf(s.ssl)) {
    if (!notes.empty()) notes += "; ";
    notes += "certificate " + name_text(X509_get_subject_name(leaf)) + " issued by " +
             name_text(X509_get_issuer_name(leaf));
  }
  std::string what = std::string("gev::net::ssl: ") + operation + " " + s.with() +
                     ": certificate verify failed: " + reason;
  if (!notes.empty()) what += " (" + notes + ")";
  throw CertificateError(code, std::move(reason), what);
}

// Throws the error behind a failed SSL call (ssl_error from SSL_get_error).
[[noreturn]] void fail(State& s, int ssl_error, const char* operation) {
  s.broken = true;
  const std::string prefix = std::string("gev::net::ssl: ") + operation + " " + s.with();
  if (ssl_error == SSL_ERROR_SSL) {
    const unsigned long e = ERR_peek_error();
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      throw_certificate_error(s, operation);
    }
  }
  if (ssl_error == SSL_ERROR_SYSCALL && s.last_errno != 0) {
    ERR_clear_error();
    throw std::system_error(s.last_errno, std::generic_category(), prefix);
  }
  if (is_ragged_eof(s, ssl_error)) {
    ERR_clear_error();
    throw Error(
        errc::unexpected_eof,
        prefix + (s.handshake_done ? ": the peer closed the connection without close_notify"
                                   : ": the peer closed the connection during the handshake"));
  }
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    ERR_clear_error();
    throw Error(errc::protocol_error, prefix + ": the peer ended the TLS session (close_notify)");
  }
  std::string reasons = detail::take_openssl_errors();
  if (reasons.empty()) reasons = "SSL_get_error " + std::to_string(ssl_error);
  throw Error(errc::protocol_error, prefix + ": " + reasons);
}

// One SSL_read that waits until it returns data or the end of stream.
std::size_t read_once(State& s, void* buffer, std::size_t size, const Deadline& dl,
                      const char* operation) {
  for (;;) {
    start_call(s);
    std::size_t n = 0;
    const int r = SSL_read_ex(s.ssl, buffer, size, &n);
    if (r == 1) return n;
    const int err = SSL_get_error(s.ssl, r);
    if (is_want(err)) {
      wait_for(s, err, operation, dl);
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify
      ERR_clear_error();
      s.eof = true;
      return 0;
    }
    if (is_ragged_eof(s, err) && s.suppress_ragged_eofs) {
      ERR_clear_error();
      s.broken = true;
      s.eof = true;
      s.ragged = true;
      return 0;
    }
    if (is_ragged_eof(s, err)) s.ragged = true;
    fail(s, err, operation);
  }
}

// One SSL_write that waits until it has written at least one byte.
std::size_t write_once(State& s, const void* data, std::size_t size, const Deadline& dl,
                       const char* operation) {
  if (s.sent_close_notify) {
    throw std::system_error(
        EPIPE, std::generic_category(),
        std::string("gev::net::ssl: ") + operation + " " + s.with() + " after shutdown()");
  }
  if (s.write_interrupted) throw_write_interrupted(s, operation);
  for (;;) {
    start_call(s);
    std::size_t n = 0;
    const int r = SSL_write_ex(s.ssl, data, size, &n);
    if (r == 1) return n;
    const int err = SSL_get_error(s.ssl, r);
    if (is_want(err)) {
      // OpenSSL now holds a record made from `data` that a retry must finish with the same
      // bytes; nobody retries an interrupted write that way, so the write side is done for.
      try {
        wait_for(s, err, operation, dl);
      } catch (...) {
        s.write_interrupted = true;
        throw;
      }
      continue;
    }
    fail(s, err, operation);
  }
}

// Brackets stripped: "[::1]" -> "::1".
std::string bare_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The peer's address for messages (empty if the socket has none, e.g. after a reset).
void note_peer(State& s) {
  try {
    const Address a = s.sock.peer_address();
    s.peer = a.to_string();
    s.peer_host = a.host();
  } catch (const std::system_error&) {
  }
}

// The SSL object over the socket, with our BIO.
SSL* new_ssl(State& s) {
  ERR_clear_error();
  SSL* ssl = SSL_new(s.context.native_handle());
  if (ssl == nullptr) {
    throw Error(errc::protocol_error, "gev::net::ssl: SSL_new: " + detail::take_openssl_errors());
  }
  const BIO_METHOD* method = socket_bio_method();
  BIO* bio = method ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl);
    throw Error(errc::protocol_error, "gev::net::ssl: BIO_new: " + detail::take_openssl_errors());
  }
  BIO_set_data(bio, &s);
  SSL_set_bio(ssl, bio, bio);  // the SSL owns the BIO
  return ssl;
}

// ---- boost::system::error_code mapping for read_some / write_some -------------------------------

class BoostCategory : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "gev.ssl"; }
  std::string message(int value) const override { return ssl::error_category().message(value); }
};

boost::system::error_code to_boost(const std::error_code& code) {
  if (code.category() == error_category()) return {code.value(), boost_error_category()};
  return {code.value(), boost::system::system_category()};  // errno values (generic or system)
}

}  // namespace

const boost::system::error_category& boost_error_category() noexcept {
  static const BoostCategory category;
  return category;
}

// ---- Stream -------------------------------------------------------------------------------------

Stream::Stream() noexcept = default;
Stream::Stream(Stream&& other) noexcept = default;
Stream::~Stream() {
  check_not_busy();
  close();
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    check_not_busy();
    close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

// Freeing the state under a greenlet parked in one of our operations would let it run on freed
// memory once close() wakes it: fail loudly instead, as Socket's move assignment does.
void Stream::check_not_busy() const noexcept {
  if (impl_ && impl_->busy > 0 && busy_elsewhere(*impl_)) {
    std::fputs(
        "gev::net::ssl::Stream destroyed (or moved) while a greenlet is parked on it; close() it "
        "and let that greenlet finish first\n",
        stderr);
    std::terminate();
  }
}

Stream Stream::client(Socket sock, std::string server_hostname, const Context& context) {
  if (context.role() != Role::client) {
    throw std::invalid_argument(
        "gev::net::ssl: a client stream needs a client Context (Context::client)");
  }
  server_hostname = bare_host(server_hostname);
  const bool check_name = context.verify() != Verify::none && context.check_hostname();
  if (check_name && server_hostname.empty()) {
    throw std::invalid_argument(
        "gev::net::ssl: wrap_client needs the server_hostname to verify the certificate against "
        "(or a Context with check_hostname = false)");
  }
  Stream out;
  out.impl_ = std::make_unique<State>(std::move(sock), context, Role::client);
  State& s = *out.impl_;
  s.server_hostname = server_hostname;
  note_peer(s);
  s.ssl = new_ssl(s);
  SSL_set_connect_state(s.ssl);
  if (!server_hostname.empty()) {
    bool ok = true;
    if (is_ip_literal(server_hostname)) {
      // No SNI for addresses (RFC 6066); the certificate must carry the address as an IP SAN.
      if (check_name) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.ssl), server_hostname.c_str()) == 1;
      }
    } else {
      ok = SSL_set_tlsext_host_name(s.ssl, server_hostname.c_str()) == 1;
      if (ok && check_name) {
        SSL_set_hostflags(s.ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(s.ssl, server_hostname.c_str()) == 1;
      }
    }
    if (!ok) {
      throw std::invalid_argument("gev::net::ssl: invalid server_hostname '" + server_hostname +
                                  "': " + detail::take_openssl_errors());
    }
  }
  return out;
}

Stream Stream::server(Socket sock, const Context& context) {
  if (context.role() != Role::server) {
    throw std::invalid_argument(
        "gev::net::ssl: a server stream needs a server Context (Context::server)");
  }
  Stream out;
  out.impl_ = std::make_unique<State>(std::move(sock), context, Role::server);
  State& s = *out.impl_;
  note_peer(s);
  s.ssl = new_ssl(s);
  SSL_set_accept_state(s.ssl);
  return out;
}

detail::StreamState& Stream::open_state(const char* operation) const {
  if (!impl_ || impl_->ssl == nullptr || !impl_->sock.is_open()) {
    throw std::system_error(EBADF, std::generic_category(),
                            std::string("gev::net::ssl: ") + operation + ": the stream is closed");
  }
  return *impl_;
}

void Stream::do_handshake() {
  State& s = open_state("TLS handshake");
  if (s.handshake_done) return;
  Busy busy(s);
  const Deadline dl(s.sock.gettimeout());
  // Another greenlet (a reader while we write, say) is running the handshake: wait for its end.
  while (s.handshaking) {
    std::optional<Duration> left = dl.timeout;
    if (dl.at) left = std::chrono::duration_cast<Duration>(*dl.at - Clock::now());
    if (left && left->count() <= 0) {
      if (dl.timeout->count() <= 0) {
        throw std::system_error(EAGAIN, std::generic_category(),
                                "gev::net::ssl: TLS handshake " + s.with() +
                                    ": another greenlet is running the handshake");
      }
      throw_timeout(s, "TLS handshake", dl);
    }
    s.handshake_event.wait(left);
  }
  open_state("TLS handshake");  // closed meanwhile?
  if (s.handshake_done) return;
  if (s.broken) {
    throw Error(errc::protocol_error,
                "gev::net::ssl: TLS handshake " + s.with() + ": an earlier handshake failed");
  }
  s.handshaking = true;
  s.handshake_event.clear();
  struct Done {
    State& s;
    ~Done() {
      s.handshaking = false;
      s.handshake_event.set();
    }
  } done{s};
  for (;;) {
    start_call(s);
    const int r = SSL_do_handshake(s.ssl);
    if (r == 1) break;
    const int err = SSL_get_error(s.ssl, r);
    if (is_want(err)) {
      wait_for(s, err, "TLS handshake", dl);
      continue;
    }
    fail(s, err, "TLS handshake");
  }
  s.handshake_done = true;
  if (s.role == Role::server) {
    if (const char* sni = SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name)) {
      s.server_hostname = sni;
    }
  }
}

bool Stream::handshake_done() const noexcept {
  return impl_ && impl_->handshake_done;
}

std::size_t Stream::recv(void* buffer, std::size_t size) {
  State& s = open_state("TLS recv");
  if (!s.handshake_done) do_handshake();
  if (size == 0 || s.eof) return 0;
  Busy busy(s);
  return read_once(s, buffer, size, Deadline(s.sock.gettimeout()), "TLS recv");
}

std::size_t Stream::send(const void* data, std::size_t size) {
  State& s = open_state("TLS send");
  if (!s.handshake_done) do_handshake();
  if (size == 0) return 0;
  Busy busy(s);
  return write_once(s, data, size, Deadline(s.sock.gettimeout()), "TLS send");
}

void Stream::sendall(const void* data, std::size_t size) {
  State& s = open_state("TLS sendall");
  if (!s.handshake_done) do_handshake();
  Busy busy(s);
  const Deadline dl(s.sock.gettimeout());
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const std::size_t n = write_once(s, p, size, dl, "TLS sendall");
    p += n;
    size -= n;
  }
}

std::size_t Stream::pending() const noexcept {
  return impl_ && impl_->ssl ? static_cast<std::size_t>(SSL_pending(impl_->ssl)) : 0;
}

char* Stream::gather_buffer() noexcept {
  return impl_ ? impl_->gather : nullptr;
}

std::size_t Stream::read_for_beast(void* data, std::size_t size, boost::system::error_code* ec) {
  if (ec) *ec = {};
  if (size == 0) return 0;
  try {
    const std::size_t n = recv(data, size);
    if (n == 0) {
      if (ec == nullptr) throw boost::system::system_error(boost::asio::error::eof);
      *ec = boost::asio::error::eof;
    }
    return n;
  } catch (const std::system_error& e) {
    if (ec == nullptr) throw;
    *ec = to_boost(e.code());
    return 0;
  }
}

std::size_t Stream::write_for_beast(const void* data, std::size_t size,
                                    boost::system::error_code* ec) {
  if (ec) *ec = {};
  if (size == 0) return 0;
  try {
    return send(data, size);
  } catch (const std::system_error& e) {
    if (ec == nullptr) throw;
    *ec = to_boost(e.code());
    return 0;
  }
}

void Stream::shutdown() {
  State& s = open_state("TLS shutdown");
  if (!s.handshake_done) do_handshake();
  if (s.sent_close_notify) return;
  if (s.write_interrupted) throw_write_interrupted(s, "TLS shutdown");
  Busy busy(s);
  const Deadline dl(s.sock.gettimeout());
  for (;;) {
    start_call(s);
    const int r = SSL_shutdown(s.ssl);
    if (r >= 0) break;  // 0: sent ours; 1: and the peer's had arrived
    const int err = SSL_get_error(s.ssl, r);
    if (is_want(err)) {
      wait_for(s, err, "TLS shutdown", dl);
      continue;
    }
    fail(s, err, "TLS shutdown");
  }
  s.sent_close_notify = true;
}

Socket Stream::unwrap() {
  shutdown();
  State& s = *impl_;
  if (!s.eof && (SSL_get_shutdown(s.ssl) & SSL_RECEIVED_SHUTDOWN) == 0) {
    Busy busy(s);
    const Deadline dl(s.sock.gettimeout());
    const bool suppress = s.suppress_ragged_eofs;
    s.suppress_ragged_eofs = false;  // the peer must answer with close_notify
    struct Restore {
      State& s;
      bool suppress;
      ~Restore() { s.suppress_ragged_eofs = suppress; }
    } restore{s, suppress};
    char scratch[4096];
    while (read_once(s, scratch, sizeof scratch, dl, "TLS unwrap") != 0) {
    }
  }
  check_not_busy();
  Socket out = std::move(s.sock);
  impl_.reset();
  return out;
}

void Stream::close() noexcept {
  if (!impl_) return;
  State& s = *impl_;
  if (s.ssl && s.handshake_done && !s.broken && !s.write_interrupted && !s.sent_close_notify &&
      s.busy == 0 && s.sock.is_open()) {
    // A best-effort close_notify: our BIO never blocks, so this writes it now or gives up.
    start_call(s);
    if (SSL_shutdown(s.ssl) >= 0) s.sent_close_notify = true;
    ERR_clear_error();
  }
  s.sock.close();  // wakes a greenlet parked on this stream with EBADF
  if (s.ssl) {
    SSL_free(s.ssl);
    s.ssl = nullptr;
  }
}

void Stream::settimeout(std::optional<Duration> timeout) noexcept {
  if (impl_) impl_->sock.settimeout(timeout);
}
std::optional<Duration> Stream::gettimeout() const noexcept {
  return impl_ ? impl_->sock.gettimeout() : std::nullopt;
}
int Stream::fileno() const noexcept {
  return impl_ ? impl_->sock.fileno() : -1;
}
bool Stream::is_open() const noexcept {
  return impl_ && impl_->ssl && impl_->sock.is_open();
}
Socket& Stream::socket() {
  if (!impl_) {
    throw std::system_error(EBADF, std::generic_category(), "gev::net::ssl: socket(): no stream");
  }
  return impl_->sock;
}

Role Stream::role() const noexcept {
  return impl_ ? impl_->role : Role::client;
}
const std::string& Stream::server_hostname() const noexcept {
  static const std::string none;
  return impl_ ? impl_->server_hostname : none;
}
std::string Stream::selected_alpn() const {
  if (!impl_ || !impl_->ssl) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(impl_->ssl, &data, &len);
  return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}
std::string Stream::version() const {
  if (!impl_ || !impl_->ssl || !impl_->handshake_done) return {};
  return SSL_get_version(impl_->ssl);
}
std::string Stream::cipher() const {
  if (!impl_ || !impl_->ssl || !impl_->handshake_done) return {};
  const SSL_CIPHER* c = SSL_get_current_cipher(impl_->ssl);
  return c ? SSL_CIPHER_get_name(c) : "";
}
std::string Stream::peer_subject() const {
  if (!impl_ || !impl_->ssl) return {};
  X509* leaf = SSL_get0_peer_certificate(impl_->ssl);
  return leaf ? name_text(X509_get_subject_name(leaf)) : std::string();
}
std::string Stream::peer_issuer() const {
  if (!impl_ || !impl_->ssl) return {};
  X509* leaf = SSL_get0_peer_certificate(impl_->ssl);
  return leaf ? name_text(X509_get_issuer_name(leaf)) : std::string();
}

void Stream::set_suppress_ragged_eofs(bool suppress) noexcept {
  if (impl_) impl_->suppress_ragged_eofs = suppress;
}
bool Stream::suppress_ragged_eofs() const noexcept {
  return !impl_ || impl_->suppress_ragged_eofs;
}
bool Stream::ragged_eof() const noexcept {
  return impl_ && impl_->ragged;
}

const Context& Stream::context() const {
  if (!impl_) throw std::logic_error("gev::net::ssl::Stream::context(): no stream");
  return impl_->context;
}
ssl_st* Stream::native_handle() const noexcept {
  return impl_ ? impl_->ssl : nullptr;
}

// ---- wrap ---------------------------------------------------------------------------------------

Stream wrap_client(Socket sock, std::string server_hostname, const Context& context) {
  Stream s = Stream::client(std::move(sock), std::move(server_hostname), context);
  s.do_handshake();
  return s;
}

Stream wrap_server(Socket sock, const Context& context) {
  Stream s = Stream::server(std::move(sock), context);
  s.do_handshake();
  return s;
}

}  // namespace gev::net::ssl
