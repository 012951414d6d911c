#include "gev/net/stream_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "gev/hub/error_hook.hpp"
#include "gev/hub/park_timer.hpp"
#include "gev/net/ssl_context.hpp"
#include "gev/net/ssl_stream.hpp"
#include "gev/runtime/sleep.hpp"

namespace gev::net {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<Clock::time_point> deadline_after(std::optional<Duration> timeout) {
  if (!timeout) return std::nullopt;
  return gev::deadline_after(*timeout);
}

std::optional<Duration> remaining(std::optional<Clock::time_point> deadline) {
  if (!deadline) return std::nullopt;
  return std::max(Duration::zero(), std::chrono::duration_cast<Duration>(*deadline - Clock::now()));
}

}  // namespace

StreamServer::StreamServer(Address listen_address, Handler handler)
    : StreamServer(std::move(listen_address), std::move(handler), Options{}) {}

StreamServer::StreamServer(Address listen_address, Handler handler, Options options)
    : address_(std::move(listen_address)),
      handler_(std::move(handler)),
      options_(options),
      pool_(options.max_connections ? options.max_connections : 1) {
  if (!handler_) throw std::invalid_argument("gev::net::StreamServer: no handler");
  if (options_.max_accept == 0) {
    // The accept loop would never accept (and never block): spin forever.
    throw std::invalid_argument("gev::net::StreamServer: max_accept must be at least 1");
  }
}

StreamServer::StreamServer(Socket listener, Handler handler, Options options)
    : StreamServer(Address(), std::move(handler), options) {
  listener_ = std::move(listener);
}

StreamServer::StreamServer(Address listen_address, const ssl::Context& tls, TlsHandler handler,
                           Options options)
    : StreamServer(std::move(listen_address), tls_handler(this, tls, std::move(handler)), options) {
}

StreamServer::StreamServer(Socket listener, const ssl::Context& tls, TlsHandler handler,
                           Options options)
    : StreamServer(std::move(listener), tls_handler(this, tls, std::move(handler)), options) {}

StreamServer::Handler StreamServer::tls_handler(StreamServer* self, const ssl::Context& tls,
                                                TlsHandler handler) {
  if (!handler) throw std::invalid_argument("gev::net::StreamServer: no handler");
  if (tls.role() != ssl::Role::server) {
    throw std::invalid_argument(
        "gev::net::StreamServer: TLS needs a server context (ssl::Context::server)");
  }
  // Only stores `self`: the server is still being constructed.
  return [self, tls, handler = std::move(handler)](Socket& client, const Address& peer) {
    client.settimeout(self->options_.handshake_timeout);
    ssl::Stream stream = ssl::Stream::server(std::move(client), tls);
    try {
      stream.do_handshake();
    } catch (const std::system_error&) {
      // A client that cannot (or will not) complete a handshake costs its connection only.
      report_error(
          "StreamServer(" + self->address_.to_string() + ") TLS handshake with " + peer.to_string(),
          std::current_exception());
      return;  // the stream's destructor closes the connection
    }
    stream.settimeout(std::nullopt);
    try {
      handler(stream, peer);
    } catch (...) {
      // No close_notify after a failure (or a kill): the client must not see a clean end.
      if (stream.is_open()) stream.socket().close();
      throw;
    }
  };  // returning closes the stream after a best-effort close_notify
}

StreamServer::~StreamServer() {
  if (started_) stop_.on_destroy("StreamServer");
}

void StreamServer::start() {
  if (started_) return;
  if (!listener_) {
    Socket s(address_.family(), SOCK_STREAM);
    if (options_.reuse_address && address_.family() != AF_UNIX) {
      s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    }
    if (options_.reuse_port) s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    s.bind(address_);
    listener_ = std::move(s);
  }
  listener_.listen(options_.backlog);  // harmless on a socket that already listens
  address_ = listener_.local_address();
  started_ = true;
  acceptor_ = gev::spawn(SpawnOptions{.name = "StreamServer(" + address_.to_string() + ")"},
                         [this] { accept_loop(); });
}

void StreamServer::accept_loop() {
  Duration backoff = std::chrono::milliseconds(10);
  bool warned = false;
  while (!stop_.stopping()) {
    pool_.wait_available();  // full: leave new clients in the backlog
    for (std::size_t n = 0; n < options_.max_accept && !pool_.full() && !stop_.stopping(); ++n) {
      Address peer;
      Socket client;
      try {
        client = listener_.accept(&peer);
      } catch (const std::system_error& e) {
        const int err = e.code().value();
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
          // Out of descriptors: back off instead of spinning on a ready listener.
          if (!warned) {
            std::fprintf(stderr, "gev::net::StreamServer(%s): %s; backing off\n",
                         address_.to_string().c_str(), e.what());
            warned = true;
          }
          gev::sleep(backoff);
          backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(1));
          break;
        }
        if (err == EBADF || !listener_) throw;  // stop() closed the listener
        // A failure of one incoming connection (EPROTO, EPERM from a firewall, ...): report it
        // and keep serving the others.
        report_error("StreamServer(" + address_.to_string() + ") accept", std::current_exception());
        gev::sleep(std::chrono::milliseconds(1));
        break;
      }
      backoff = std::chrono::milliseconds(10);
      warned = false;
      ++accepted_;
      if (options_.no_delay && (peer.family() == AF_INET || peer.family() == AF_INET6)) {
        const int one = 1;  // best effort: a failure here is no reason to drop the client
        ::setsockopt(client.fileno(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      auto conn = std::make_shared<Socket>(std::move(client));
      pool_.spawn([this, conn, peer] {
        try {
          handler_(*conn, peer);
        } catch (const GreenletExit&) {
          throw;
        } catch (...) {
          report_error("StreamServer handler for " + peer.to_string(), std::current_exception());
        }
      });
    }
    gev::sleep(Duration::zero());  // let the handlers just accepted run
  }
}

void StreamServer::serve_forever() {
  start();
  stop_.wait_stopped();
}

bool StreamServer::stop(std::optional<Duration> timeout) {
  if (!started_) return true;
  GreenletBase* self = getcurrent();
  const bool from_server =
      self != nullptr &&
      ((acceptor_ && static_cast<GreenletBase*>(acceptor_.get()) == self) || pool_.contains(*self));
  return stop_.stop(
      timeout, from_server,
      [&] {
        if (acceptor_ && static_cast<GreenletBase*>(acceptor_.get()) != self) {
          acceptor_->kill({.block = false});
        }
      },
      "StreamServer(" + address_.to_string() + ") stop");
}

bool StreamServer::finish_stop(std::optional<Duration> timeout) {
  const std::optional<Clock::time_point> deadline = deadline_after(timeout);
  if (acceptor_ && !acceptor_->ready()) acceptor_->kill({.block = true});
  listener_.close();
  const bool clean = pool_.join(remaining(deadline));
  if (!clean) pool_.kill();
  return clean;
}

}  // namespace gev::net
