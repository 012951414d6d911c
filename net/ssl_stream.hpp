/// @file
/// ssl::Stream: TLS over a cooperative Socket (gevent.ssl.SSLSocket). The handshake, reads,
/// writes and close_notify all park the calling greenlet while OpenSSL waits for the socket, so
/// other greenlets run meanwhile.
///
/// @code
/// auto sock = gev::net::create_connection("example.com", 443, 10s);
/// auto tls = gev::net::ssl::wrap_client(std::move(sock), "example.com");  // verified handshake
/// tls.sendall("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
/// char buf[4096];
/// while (std::size_t n = tls.recv(buf, sizeof buf)) fwrite(buf, 1, n, stdout);  // 0: EOF
/// @endcode
///
/// wrap_client verifies the server's certificate chain and name by default (Context), sends SNI
/// for DNS names (not for IP literals, which are matched against the certificate's IP SANs) and
/// performs the handshake at once; a refused certificate throws ssl::CertificateError before any
/// application byte is sent. Stream::client / Stream::server make a stream whose handshake runs
/// on do_handshake() or on the first read or write.
///
/// Timeouts are the socket's (settimeout here or on the socket): each handshake, recv, send,
/// sendall, shutdown and unwrap call gets one deadline for all its waits and throws
/// gev::net::timeout when it passes; a zero timeout throws EAGAIN instead of parking.
///
/// Interrupted writes: a send, sendall or write_some that ends while waiting for the socket (its
/// timeout, a zero timeout's EAGAIN, gev::Timeout, a kill, close() from another greenlet) may
/// leave part of a TLS record written and the rest held by OpenSSL. The stream's write side is
/// then unusable: later sends, write_somes and shutdown() fail with std::system_error(EPIPE)
/// ("the stream's write side is unusable after an interrupted write"), and close() sends no
/// close_notify. Reads keep working; close the stream when done with them.
///
/// Ragged EOF: a peer that closes the TCP connection without TLS's close_notify is, by default,
/// taken as an ordinary end of stream (recv returns 0, ragged_eof() turns true), as gevent's
/// suppress_ragged_eofs=True does, so an HTTP response read to EOF from a careless server is not
/// lost. set_suppress_ragged_eofs(false) makes it an ssl::Error(errc::unexpected_eof) instead.
///
/// Errors: ssl::CertificateError (verification), ssl::Error (other TLS failures, with OpenSSL's
/// reason), std::system_error with the errno for the transport (ECONNRESET...), net::timeout.
/// Messages name the operation and the peer.
///
/// read_some / write_some model Boost.Beast's SyncReadStream / SyncWriteStream, so
/// beast::http::read and beast::http::write run cooperatively over TLS. Their error_code
/// overloads never throw for I/O errors (a closed stream included): they map end of stream to
/// boost::asio::error::eof, OS errors (and timeouts) to boost::system::system_category() values
/// and TLS failures to boost_error_category(); their throwing overloads throw gev's exceptions
/// above, and boost::system::system_error(eof) at end of stream. Cancellation (kill, gev::Timeout)
/// passes through both as usual.
///
/// One reader and one writer greenlet may use a stream at once (full duplex), as with Socket; a
/// second concurrent reader gets ConcurrentObjectUseError. When both start before the handshake,
/// the second waits for the handshake the first runs. close() from another greenlet wakes a
/// parked one with EBADF. A Stream owns its Socket, belongs to the socket's hub, and can be moved
/// from; destroying, move-assigning to or unwrap()ing a stream while another greenlet is inside
/// one of its operations prints a message and calls std::terminate() (close() it and let that
/// greenlet finish first).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include "gev/hub/hub.hpp"
#include "gev/net/socket.hpp"
#include "gev/net/ssl_context.hpp"
#include "gev/net/ssl_error.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace gev::net::ssl {

namespace detail {
struct StreamState;  // the connection (net/ssl_stream.cpp)
}

/// A TLS connection over a cooperative Socket (gevent.ssl.SSLSocket); it owns the socket. Made
/// by wrap_client / wrap_server (handshake done) or Stream::client / Stream::server. Move-only.
class Stream {
 public:
  Stream() noexcept;  ///< No connection.

  /// A client stream over a connected socket; the handshake has not run yet. server_hostname is
  /// the name to verify (and send as SNI) or an IP literal ("127.0.0.1", "::1", "[::1]"). Throws
  /// std::invalid_argument for a server context, or an empty name when the context verifies
  /// hostnames.
  static Stream client(Socket sock, std::string server_hostname,
                       const Context& context = Context::default_client());
  /// A server stream over an accepted socket; the handshake has not run yet. Throws
  /// std::invalid_argument for a client context.
  static Stream server(Socket sock, const Context& context);

  /// Takes over `other`'s connection, leaving `other` empty.
  Stream(Stream&& other) noexcept;
  /// Closes this stream, then takes over `other`'s connection, leaving `other` empty.
  /// std::terminate() while another greenlet is inside one of this stream's operations.
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();  ///< close(); std::terminate() while another greenlet is parked on the stream.

  // ---- handshake --------------------------------------------------------------------------------
  /// Runs the TLS handshake (once; later calls return at once; while another greenlet runs it,
  /// waits for that one's end). Throws CertificateError, Error, std::system_error or
  /// net::timeout, after which the stream is unusable (close it).
  void do_handshake();
  bool handshake_done() const noexcept;  ///< True once the handshake completed.

  // ---- data (each runs the handshake first if needed) -------------------------------------------
  /// Returns the bytes read (at most one TLS record); 0 at end of stream: the peer's close_notify,
  /// or a ragged EOF while suppress_ragged_eofs() holds.
  std::size_t recv(void* buffer, std::size_t size);
  /// Returns the bytes sent (maybe fewer than size).
  std::size_t send(const void* data, std::size_t size);
  /// Sends everything; one deadline (the timeout) for the whole buffer.
  void sendall(const void* data, std::size_t size);
  /// Sends everything; one deadline (the timeout) for the whole buffer.
  void sendall(std::string_view data) { sendall(data.data(), data.size()); }
  /// Decrypted bytes buffered inside OpenSSL, readable without waiting for the socket.
  std::size_t pending() const noexcept;

  // ---- Boost.Beast SyncReadStream / SyncWriteStream ---------------------------------------------
  /// @name Boost.Beast SyncReadStream / SyncWriteStream
  /// The error_code overloads report I/O errors in `ec` (end of stream: boost::asio::error::eof);
  /// the others throw gev's exceptions, and boost::system::system_error(eof) at end of stream.
  /// @{

  /// Reads into the first non-empty buffer of `buffers` (at most one TLS record), like recv().
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    const boost::asio::mutable_buffer b = first_buffer(buffers);
    return read_for_beast(b.data(), b.size(), nullptr);
  }
  /// Reads into the first non-empty buffer of `buffers`; errors go to `ec`.
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    const boost::asio::mutable_buffer b = first_buffer(buffers);
    return read_for_beast(b.data(), b.size(), &ec);
  }
  /// Writes from `buffers` (small buffers are gathered into one TLS record), like send().
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    const boost::asio::const_buffer b = gather(buffers);
    return write_for_beast(b.data(), b.size(), nullptr);
  }
  /// Writes from `buffers`, like write_some(buffers); errors go to `ec`.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    const boost::asio::const_buffer b = gather(buffers);
    return write_for_beast(b.data(), b.size(), &ec);
  }
  /// @}

  // ---- teardown ---------------------------------------------------------------------------------
  /// Sends our close_notify (parking until it is written) without waiting for the peer's: no
  /// more sends; recv still works. Idempotent.
  void shutdown();
  /// Ends TLS both ways (sends close_notify, then reads until the peer's; application data still
  /// arriving meanwhile is discarded) and returns the plain socket, leaving this stream empty.
  Socket unwrap();
  /// Closes the socket. If the handshake completed and the session is healthy, a close_notify is
  /// sent first when the socket can take it at once (never parks; errors ignored), so the peer
  /// sees a clean end of stream. Idempotent.
  void close() noexcept;

  // ---- the socket -------------------------------------------------------------------------------
  /// Sets the socket's timeout (Socket::settimeout), which bounds each operation.
  void settimeout(std::optional<Duration> timeout) noexcept;
  /// The socket's timeout (nullopt: blocking, also for an empty stream).
  std::optional<Duration> gettimeout() const noexcept;
  int fileno() const noexcept;    ///< The socket's descriptor; -1 when closed.
  bool is_open() const noexcept;  ///< False for an empty, closed or unwrapped stream.
  explicit operator bool() const noexcept { return is_open(); }  ///< is_open().
  /// The underlying socket, for options and addresses. Reading or writing it directly corrupts
  /// the TLS session. Closing it (not the stream) drops the connection without close_notify.
  /// Throws std::system_error(EBADF) for an empty stream.
  Socket& socket();

  // ---- the session ------------------------------------------------------------------------------
  Role role() const noexcept;  ///< Client or server (Role::client for an empty stream).
  /// Client: the name given to wrap_client. Server: the name the client sent as SNI ("" if
  /// none), known once the handshake is done.
  const std::string& server_hostname() const noexcept;
  /// The negotiated ALPN protocol ("http/1.1"), "" if none.
  std::string selected_alpn() const;
  std::string version() const;  ///< "TLSv1.3", "" before the handshake.
  std::string cipher() const;   ///< "TLS_AES_256_GCM_SHA384", "" before the handshake.
  /// The peer certificate's subject in RFC 2253 form ("CN=localhost"), "" if the peer sent
  /// none.
  std::string peer_subject() const;
  /// The peer certificate's issuer in RFC 2253 form, "" if the peer sent none.
  std::string peer_issuer() const;

  /// Whether a ragged EOF (the peer closing without close_notify) reads as an ordinary end of
  /// stream (true, the default) or throws ssl::Error(errc::unexpected_eof) (false).
  void set_suppress_ragged_eofs(bool suppress) noexcept;
  /// The setting of set_suppress_ragged_eofs() (true by default).
  bool suppress_ragged_eofs() const noexcept;
  /// True once the peer closed the connection without close_notify (a possible truncation).
  bool ragged_eof() const noexcept;

  /// The Context the stream was made with. Throws std::logic_error for an empty stream.
  const Context& context() const;
  ssl_st* native_handle() const noexcept;  ///< OpenSSL's SSL, nullptr when closed.

 private:
  friend struct detail::StreamState;
  static constexpr std::size_t kGatherSize = 16 * 1024;  // one TLS record

  template <class MutableBufferSequence>
  static boost::asio::mutable_buffer first_buffer(const MutableBufferSequence& buffers) {
    const auto end = boost::asio::buffer_sequence_end(buffers);
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
      boost::asio::mutable_buffer b(*it);
      if (b.size() != 0) return b;
    }
    return {};
  }
  // The first non-empty buffer, or (several small buffers, as Beast writes a header) up to one
  // record's worth of them copied together, so they go out as one TLS record.
  template <class ConstBufferSequence>
  boost::asio::const_buffer gather(const ConstBufferSequence& buffers) {
    boost::asio::const_buffer first;
    std::size_t count = 0;
    const auto end = boost::asio::buffer_sequence_end(buffers);
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (++count == 1) {
        first = b;
        if (first.size() >= kGatherSize) return first;
      } else {
        break;
      }
    }
    if (count <= 1) return first;
    char* scratch = gather_buffer();
    if (scratch == nullptr) return first;  // no stream: the write reports it
    const std::size_t n =
        boost::asio::buffer_copy(boost::asio::mutable_buffer(scratch, kGatherSize), buffers);
    return {scratch, n};
  }
  char* gather_buffer() noexcept;
  void check_not_busy() const noexcept;
  std::size_t read_for_beast(void* data, std::size_t size, boost::system::error_code* ec);
  std::size_t write_for_beast(const void* data, std::size_t size, boost::system::error_code* ec);
  detail::StreamState& open_state(const char* operation) const;

  std::unique_ptr<detail::StreamState> impl_;
};

/// Wraps a connected socket as a TLS client and performs the handshake (gevent's
/// wrap_socket(..., do_handshake_on_connect=True)). On failure the socket is closed and the
/// error thrown (CertificateError, Error, std::system_error, net::timeout).
Stream wrap_client(Socket sock, std::string server_hostname,
                   const Context& context = Context::default_client());
/// Wraps an accepted socket as a TLS server and performs the handshake.
Stream wrap_server(Socket sock, const Context& context);

/// The category of the boost::system::error_code values that read_some / write_some report for
/// TLS failures; values are ssl::errc.
const boost::system::error_category& boost_error_category() noexcept;

}  // namespace gev::net::ssl
