#include "gev/net/datagram_server.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "gev/hub/error_hook.hpp"
#include "gev/hub/park_timer.hpp"
#include "gev/runtime/sleep.hpp"

namespace gev::net {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxDatagramLimit = std::size_t{16} << 20;  // 16 MiB
constexpr Duration kMinBackoff = std::chrono::milliseconds(10);
constexpr Duration kMaxBackoff = std::chrono::seconds(1);

// Errors a datagram socket reports about one peer (mostly ICMP errors: port or host
// unreachable, fragmentation needed...). Each is delivered once and concerns a datagram sent
// earlier, never the socket itself: the server counts it and goes on.
bool is_peer_error(int err) noexcept {
  switch (err) {
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case ENETUNREACH:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EPROTO:
    case EMSGSIZE:
    case EOPNOTSUPP:
    case ETIMEDOUT:
      return true;
    default:
      return false;
  }
}

void validate(const DatagramServerOptions& options) {
  if (options.max_datagram == 0) {
    throw std::invalid_argument("gev::net::DatagramServer: max_datagram must be at least 1");
  }
  if (options.max_datagram > kMaxDatagramLimit) {
    throw std::invalid_argument("gev::net::DatagramServer: max_datagram " +
                                std::to_string(options.max_datagram) + " exceeds " +
                                std::to_string(kMaxDatagramLimit) + " bytes");
  }
  if (options.max_handlers == 0 && !options.inline_handler) {
    throw std::invalid_argument(
        "gev::net::DatagramServer: max_handlers must be at least 1 (or set inline_handler)");
  }
}

}  // namespace

DatagramServer::DatagramServer(Address bind_address, Handler handler)
    : DatagramServer(std::move(bind_address), std::move(handler), Options{}) {}

DatagramServer::DatagramServer(Address bind_address, Handler handler, Options options)
    : address_(std::move(bind_address)),
      handler_(std::move(handler)),
      options_(options),
      pool_(options.inline_handler || options.max_handlers == 0 ? 1 : options.max_handlers) {
  if (!handler_) throw std::invalid_argument("gev::net::DatagramServer: no handler");
  validate(options_);
  if (options_.max_batch == 0) options_.max_batch = 1;
}

DatagramServer::DatagramServer(Socket socket, Handler handler, Options options)
    : DatagramServer(Address(), std::move(handler), options) {
  if (!socket) throw std::invalid_argument("gev::net::DatagramServer: the socket is closed");
  const int type = socket.getsockopt_int(SOL_SOCKET, SO_TYPE);
  if (type != SOCK_DGRAM) {
    throw std::invalid_argument("gev::net::DatagramServer: fd " + std::to_string(socket.fileno()) +
                                " is not a datagram socket (SO_TYPE " + std::to_string(type) + ")");
  }
  socket_ = std::move(socket);
}

DatagramServer::~DatagramServer() {
  if (started_) stop_.on_destroy("DatagramServer");
}

std::string DatagramServer::name() const {
  return "DatagramServer(" + address_.to_string() + ")";
}

void DatagramServer::start() {
  if (started_) return;
  if (!socket_) {
    Socket s(address_.family(), SOCK_DGRAM);
    if (options_.reuse_address && address_.family() != AF_UNIX) {
      s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    }
    if (options_.reuse_port) s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    if (options_.receive_buffer > 0) s.setsockopt(SOL_SOCKET, SO_RCVBUF, options_.receive_buffer);
    s.bind(address_);
    socket_ = std::move(s);
  } else if (options_.receive_buffer > 0) {
    socket_.setsockopt(SOL_SOCKET, SO_RCVBUF, options_.receive_buffer);
  }
  socket_.settimeout(std::nullopt);
  address_ = socket_.local_address();
  // One byte more than the limit: a datagram filling it is too long even where the kernel
  // ignores MSG_TRUNC.
  buffer_.assign(options_.max_datagram + 1, '\0');
  started_ = true;
  receiver_ = gev::spawn(SpawnOptions{.name = name()}, [this] { receive_loop(); });
}

void DatagramServer::serve_forever() {
  start();
  stop_.wait_stopped();
}

std::size_t DatagramServer::handlers() const noexcept {
  if (options_.inline_handler) return in_inline_handler_ ? 1 : 0;
  return pool_.size();
}

std::size_t DatagramServer::drain_error_queue() noexcept {
  // With IP_RECVERR / IPV6_RECVERR the kernel queues ICMP errors on the socket's error queue;
  // while it is not empty the socket polls as ready (POLLERR) and the loop would spin.
  std::size_t drained = 0;
  char data[256];
  char control[512];
  for (int i = 0; i < 64; ++i) {
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(socket_.fileno(), &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    ++drained;
  }
  return drained;
}

std::optional<std::size_t> DatagramServer::receive_one(Address& from, Duration& backoff) {
  bool woken = false;
  for (;;) {
    const int fd = socket_.fileno();
    if (fd < 0) {
      throw std::system_error(EBADF, std::generic_category(),
                              "gev::net::" + name() + ": recvfrom on a closed socket");
    }
    socklen_t len = sizeof(sockaddr_storage);
    // MSG_TRUNC: the return value is the datagram's real length, even when it did not fit.
    const ssize_t n =
        ::recvfrom(fd, buffer_.data(), buffer_.size(), MSG_TRUNC, from.sockaddr_ptr(), &len);
    if (n >= 0) {
      from.set_length(len);
      backoff = kMinBackoff;
      return static_cast<std::size_t>(n);
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      // Woken with nothing to read: an error-queue entry (POLLERR) woke us; consume it.
      if (woken) socket_errors_ += drain_error_queue();
      socket_.wait_readable("recvfrom", std::nullopt);
      woken = true;
      continue;
    }
    const std::string what = "gev::net::" + name() + ": recvfrom";
    if (err == EBADF || err == ENOTSOCK)
      throw std::system_error(err, std::generic_category(), what);
    ++socket_errors_;
    if (is_peer_error(err)) return std::nullopt;
    // Unexpected (ENOMEM, ENOBUFS, ...): report it, back off, and go on serving.
    report_error(name() + " recvfrom",
                 std::make_exception_ptr(std::system_error(err, std::generic_category(), what)));
    gev::sleep(backoff);
    backoff = std::min<Duration>(backoff * 2, kMaxBackoff);
    return std::nullopt;
  }
}

void DatagramServer::run_handler(std::string_view data, const Address& from) {
  try {
    handler_(data, from, *this);
  } catch (const GreenletExit&) {
    throw;
  } catch (...) {
    report_error(name() + " handler for " + from.to_string(), std::current_exception());
  }
}

void DatagramServer::receive_loop() {
  Duration backoff = kMinBackoff;
  std::size_t batch = 0;
  while (!stop_.stopping()) {
    if (++batch > options_.max_batch) {
      batch = 0;
      gev::sleep(Duration::zero());  // let the handlers (and everyone else) run
      continue;
    }
    if (!options_.inline_handler) pool_.wait_available();  // full: leave datagrams queued
    Address from;
    const std::optional<std::size_t> n = receive_one(from, backoff);
    if (!n) continue;
    if (*n > options_.max_datagram) {
      ++truncated_;
      const std::string what = "gev::net::" + name() + ": datagram of " + std::to_string(*n) +
                               " bytes from " + from.to_string() + " exceeds max_datagram " +
                               std::to_string(options_.max_datagram) + "; dropped";
      report_error(
          name(), std::make_exception_ptr(DatagramTooLarge(what, *n, options_.max_datagram, from)));
      continue;
    }
    ++received_;
    const std::string_view data(buffer_.data(), *n);
    if (options_.inline_handler) {
      in_inline_handler_ = true;
      struct Reset {
        bool& flag;
        ~Reset() { flag = false; }
      } reset{in_inline_handler_};
      run_handler(data, from);
    } else {
      try {
        pool_.spawn([this, payload = std::string(data), from] { run_handler(payload, from); });
      } catch (const std::exception&) {
        // No memory (or no stack mapping) for one more greenlet: this datagram is lost; report
        // it and back off like for a receive error instead of ending the loop.
        report_error(name() + " spawn", std::current_exception());
        gev::sleep(backoff);
        backoff = std::min<Duration>(backoff * 2, kMaxBackoff);
      }
    }
  }
}

std::size_t DatagramServer::sendto(std::string_view data, const Address& to) {
  return sendto(data.data(), data.size(), to);
}

std::size_t DatagramServer::sendto(const void* data, std::size_t size, const Address& to) {
  // Socket allows one parked writer; concurrent handlers queue here instead (FIFO). Uncontended
  // this costs no switch.
  std::lock_guard<Lock> guard(send_lock_);
  for (int attempt = 0;; ++attempt) {
    try {
      return socket_.sendto(data, size, to);
    } catch (const std::system_error& e) {
      // A pending ICMP error (connected socket or IP_RECVERR) is returned by whichever call
      // comes next, sends included. It concerns a datagram sent earlier, not this one: skip it.
      const int err = e.code().value();
      if (attempt >= 3 || err == EMSGSIZE || !is_peer_error(err)) throw;
      ++socket_errors_;
    }
  }
}

bool DatagramServer::stop(std::optional<Duration> timeout) {
  if (!started_) return true;
  GreenletBase* self = getcurrent();
  const bool from_handler =
      self != nullptr &&
      ((receiver_ && static_cast<GreenletBase*>(receiver_.get()) == self) || pool_.contains(*self));
  return stop_.stop(
      timeout, from_handler,
      [&] {
        if (!options_.inline_handler && receiver_) receiver_->kill({.block = false});
      },
      name() + " stop");
}

bool DatagramServer::finish_stop(std::optional<Duration> timeout) {
  std::optional<Clock::time_point> deadline;
  if (timeout) deadline = deadline_after(*timeout);
  auto remaining = [&]() -> std::optional<Duration> {
    if (!deadline) return std::nullopt;
    return std::max(Duration::zero(),
                    std::chrono::duration_cast<Duration>(*deadline - Clock::now()));
  };
  bool clean = true;
  // 1. Stop receiving. An inline handler in progress gets the timeout to finish; the loop
  //    checks stop_.stopping() after it returns.
  if (receiver_ && !receiver_->ready()) {
    if (in_inline_handler_) {
      if (!receiver_->join(remaining())) {
        clean = false;
        receiver_->kill({.block = true});
      }
    } else {
      receiver_->kill({.block = true});
    }
  }
  // 2. Wait for the handler greenlets (their replies still go out), then kill the rest.
  if (!pool_.join(remaining())) {
    clean = false;
    pool_.kill();
  }
  // 3. Free the port.
  socket_.close();
  return clean;
}

}  // namespace gev::net
