// net::Socket data paths beyond recv/send: recv_into and recv(n), sendfile (integrity, offset
// and count, timeout, a non-file source), the Boost.Asio/Beast stream model (asio::read/write,
// end of stream and timeouts as error codes, a Beast HTTP exchange with Python's http.server as
// the real peer), and a descriptor number reused by the same Socket object.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "net/net_support.hpp"

using namespace std::chrono_literals;
using gev::net::Address;
using gev::net::Socket;
using gev::test::catch_system_error;
using gev::test::FdBaseline;
using gev::test::make_listener;
using gev::test::read_to_eof;

namespace {

namespace http = boost::beast::http;

// Beast's stream checks: if these fail, beast::http::read/write would not compile on a Socket.
static_assert(boost::beast::is_sync_read_stream<Socket>::value);
static_assert(boost::beast::is_sync_write_stream<Socket>::value);

std::string pattern(std::size_t size, unsigned seed) {
  std::string s(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// A temporary file holding `content`; removed at scope exit.
struct TempFile {
  std::string path;
  int fd = -1;
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/gev-sendfile-XXXXXX";
    fd = mkstemp(name);
    REQUIRE(fd >= 0);
    path = name;
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  }
  ~TempFile() {
    ::close(fd);
    ::unlink(path.c_str());
  }
};

}  // namespace

TEST_CASE("recv_into and recv(max_bytes)") {
  FdBaseline fds;
  {
    auto [a, b] = gev::net::socketpair();
    b.sendall("hello world");
    char buf[5];
    CHECK(a.recv_into(std::span<char>(buf)) == 5);
    CHECK(std::string(buf, 5) == "hello");
    CHECK(a.recv(100) == " world");
    b.close();
    CHECK(a.recv(100).empty());  // end of stream
  }
  fds.check();
}

TEST_CASE("a Socket object reused for a new descriptor with the same number still wakes") {
  FdBaseline fds;
  {
    auto [a, b] = gev::net::socketpair();
    // Park once so the loop registers a's descriptor, then close it.
    auto writer = gev::spawn([&b] {
      gev::sleep(5ms);
      b.sendall("x");
    });
    char c;
    CHECK(a.recv(&c, 1) == 1);
    writer->join();
    const int old_fd = a.fileno();
    a.close();
    b.close();
    // The lowest free number comes back for the next socket.
    auto [c1, d1] = gev::net::socketpair();
    const bool reused = c1.fileno() == old_fd || d1.fileno() == old_fd;
    Socket& same_number = c1.fileno() == old_fd ? c1 : d1;
    Socket& other = c1.fileno() == old_fd ? d1 : c1;
    a = std::move(same_number);
    CHECK(reused);
    auto late_writer = gev::spawn([&other] {
      gev::sleep(10ms);
      other.sendall("y");
    });
    a.settimeout(5s);  // a hang would be a lost registration: fail instead of waiting forever
    CHECK(a.recv(&c, 1) == 1);
    CHECK(c == 'y');
    late_writer->join();
  }
  fds.check();
}

TEST_CASE("sendfile: whole file, offset and count, end of file") {
  FdBaseline fds;
  {
    const std::string content = pattern(3 * 1024 * 1024 + 17, 7);
    TempFile file(content);
    auto [a, b] = gev::net::socketpair();
    std::string received;
    auto reader = gev::spawn([&b, &received] { received = read_to_eof(b, 64 << 20); });

    CHECK(a.sendfile(file.fd) == content.size());                         // to the end
    CHECK(a.sendfile(file.fd, 1000, 5000) == 5000);                       // a slice
    CHECK(a.sendfile(file.fd, content.size() - 10, 100) == 10);           // the file ends first
    CHECK(a.sendfile(file.fd, static_cast<off_t>(content.size())) == 0);  // nothing left
    a.shutdown(SHUT_WR);
    reader->join();
    CHECK(received.size() == content.size() + 5000 + 10);
    CHECK(received == content + content.substr(1000, 5000) + content.substr(content.size() - 10));
    // The file's own offset is untouched.
    CHECK(::lseek(file.fd, 0, SEEK_CUR) == static_cast<off_t>(content.size()));
  }
  fds.check();
}

TEST_CASE("sendfile to a peer that never reads: net::timeout; from a pipe: ESPIPE") {
  FdBaseline fds;
  {
    TempFile file(pattern(8 * 1024 * 1024, 3));
    auto [a, b] = gev::net::socketpair();
    a.settimeout(100ms);
    const auto started = std::chrono::steady_clock::now();
    auto err = catch_system_error([&] { (void)a.sendfile(file.fd); });
    CHECK(err.is_net_timeout);
    CHECK(err.what.find("sendfile timed out") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < 5s);

    int p[2];
    REQUIRE(::pipe(p) == 0);
    ::close(p[1]);
    auto [c, d] = gev::net::socketpair();
    err = catch_system_error([&] { (void)c.sendfile(p[0]); });
    CHECK(err.thrown);
    CHECK(err.code == ESPIPE);  // the source must be a seekable file
    CHECK(err.what.find("sendfile") != std::string::npos);
    ::close(p[0]);
  }
  fds.check();
}

TEST_CASE("asio::write / asio::read run cooperatively over buffer sequences") {
  FdBaseline fds;
  {
    auto [a, b] = gev::net::socketpair();
    const std::string first = pattern(700'000, 1), second = pattern(300'001, 2);
    auto writer = gev::spawn([&a, &first, &second] {
      std::vector<boost::asio::const_buffer> buffers{boost::asio::buffer(first),
                                                     boost::asio::buffer(second)};
      CHECK(boost::asio::write(a, buffers) == first.size() + second.size());
      a.shutdown(SHUT_WR);
    });
    std::string got(first.size() + second.size(), '\0');
    CHECK(boost::asio::read(b, boost::asio::buffer(got)) == got.size());
    CHECK(got == first + second);
    // End of stream is asio's eof, as Beast expects.
    boost::system::error_code ec;
    char c;
    CHECK(b.read_some(boost::asio::buffer(&c, 1), ec) == 0);
    CHECK(ec == boost::asio::error::eof);
    CHECK_THROWS_AS((void)b.read_some(boost::asio::buffer(&c, 1)), boost::system::system_error);
    writer->join();

    // An empty buffer sequence transfers nothing, successfully, without blocking.
    CHECK(b.read_some(boost::asio::mutable_buffer(), ec) == 0);
    CHECK(!ec);
  }
  fds.check();
}

TEST_CASE("read_some: timeouts and resets are error codes") {
  FdBaseline fds;
  {
    auto [a, b] = gev::net::socketpair();
    a.settimeout(30ms);
    boost::system::error_code ec;
    char buf[16];
    CHECK(a.read_some(boost::asio::buffer(buf), ec) == 0);
    CHECK(ec == boost::asio::error::timed_out);
    b.close();
    CHECK(a.write_some(boost::asio::buffer("x", 1), ec) == 0);
    CHECK(ec == boost::asio::error::broken_pipe);  // no SIGPIPE: MSG_NOSIGNAL
  }
  fds.check();
}

TEST_CASE("sendfile to a peer that has gone: EPIPE, never SIGPIPE (sendfile has no MSG_NOSIGNAL)") {
  // SIGPIPE keeps its default disposition here, as in a C++ program: if sendfile raised it, the
  // whole test run would end at this point.
  struct sigaction previous {};
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  REQUIRE(::sigaction(SIGPIPE, &default_action, &previous) == 0);
  FdBaseline fds;
  {
    char path[] = "/tmp/gev-sendfile-XXXXXX";
    const int file = ::mkstemp(path);
    REQUIRE(file >= 0);
    ::unlink(path);
    const std::string data(64 << 10, 'x');
    REQUIRE(::write(file, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    auto [a, b] = gev::net::socketpair();
    b.close();
    for (int attempt = 0; attempt < 2; ++attempt) {  // the first and a repeated failure
      int error = 0;
      try {
        a.sendfile(file, 0, data.size());
      } catch (const std::system_error& e) {
        error = e.code().value();
      }
      CHECK(error == EPIPE);
    }
    ::close(file);
    // The thread's signal mask is as it was, and no SIGPIPE was left pending.
    sigset_t mask;
    sigset_t pending;
    REQUIRE(pthread_sigmask(SIG_SETMASK, nullptr, &mask) == 0);
    CHECK_FALSE(sigismember(&mask, SIGPIPE));
    REQUIRE(sigpending(&pending) == 0);
    CHECK_FALSE(sigismember(&pending, SIGPIPE));
  }
  fds.check();
  ::sigaction(SIGPIPE, &previous, nullptr);
}

TEST_CASE("Beast HTTP request and response against Python's http.server") {
  FdBaseline fds;
  {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("gev-beast-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const std::string body = pattern(200'000, 9);
    {
      FILE* f = std::fopen((dir / "blob.bin").c_str(), "wb");
      REQUIRE(f);
      std::fwrite(body.data(), 1, body.size(), f);
      std::fclose(f);
    }
    // A free port: bind 0, note it, release it for Python (loopback only).
    std::uint16_t port;
    {
      auto probe = make_listener();
      port = probe.local_address().port();
    }
    const pid_t server = fork();
    REQUIRE(server >= 0);
    if (server == 0) {
      if (chdir(dir.c_str()) != 0) _exit(127);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      const std::string p = std::to_string(port);
      execlp("python3", "python3", "-m", "http.server", p.c_str(), "--bind", "127.0.0.1",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    struct Reap {
      pid_t pid;
      fs::path dir;
      ~Reap() {
        kill(pid, SIGTERM);
        int status;
        waitpid(pid, &status, 0);
        std::error_code ec;
        fs::remove_all(dir, ec);
      }
    } reap{server, dir};

    // Wait (bounded) for Python to listen.
    std::optional<Socket> conn;
    for (int attempt = 0; attempt < 200 && !conn; ++attempt) {
      try {
        conn = gev::net::create_connection("127.0.0.1", port, 2s);
      } catch (const std::system_error&) {
        gev::sleep(25ms);
      }
    }
    REQUIRE(conn);
    http::request<http::empty_body> req{http::verb::get, "/blob.bin", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::user_agent, "gev-test");
    http::write(*conn, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(*conn, buffer, res);
    CHECK(res.result_int() == 200);
    CHECK(res.body().size() == body.size());
    CHECK(res.body() == body);

    // A 404 is an HTTP answer, not an error.
    auto conn2 = gev::net::create_connection("127.0.0.1", port, 2s);
    req.target("/missing");
    http::write(conn2, req);
    http::response<http::string_body> res2;
    boost::beast::flat_buffer buffer2;
    http::read(conn2, buffer2, res2);
    CHECK(res2.result_int() == 404);
  }
  fds.check();
}

TEST_CASE("destroying or reassigning a Socket while another greenlet is parked on it") {
  FdBaseline fds;
  {
    // The parked reader wakes with EBADF and leaves the socket before its memory goes.
    auto owner = std::make_unique<Socket>();
    auto [a, b] = gev::net::socketpair();
    *owner = std::move(a);
    int error = 0;
    auto reader = gev::spawn([&] {
      char c;
      auto err = catch_system_error([&] { (void)owner->recv(&c, 1); });
      error = err.code;
    });
    gev::sleep(5ms);  // parked in recv
    owner.reset();    // ASan would flag the reader touching freed memory
    reader->join();
    CHECK(error == EBADF);

    // Reassignment: the parked writer must not end up waiting on the new descriptor.
    auto [c, d] = gev::net::socketpair();
    auto [e, f] = gev::net::socketpair();
    c.settimeout(5s);
    std::string big(4 << 20, 'x');
    int write_error = 0;
    auto writer = gev::spawn([&] {
      auto err = catch_system_error([&] { c.sendall(big); });
      write_error = err.code;
    });
    gev::sleep(5ms);  // parked in sendall: nobody reads d
    c = std::move(e);
    writer->join();
    CHECK(write_error == EBADF);
    CHECK(c.is_open());
  }
  fds.check();
}

TEST_CASE("a kill arriving while a destructor lets a waiter go is raised at the next block") {
  FdBaseline fds;
  {
    auto [a, b] = gev::net::socketpair();
    auto owner = std::make_unique<Socket>(std::move(a));
    Socket* raw = owner.get();
    int reader_error = 0;
    auto reader = gev::spawn([raw, &reader_error] {
      char c;
      reader_error = catch_system_error([&] { (void)raw->recv(&c, 1); }).code;
    });
    bool past_destructor = false, killed_later = false;
    std::shared_ptr<gev::Greenlet<void>> destroyer;
    destroyer = gev::spawn([&] {
      gev::sleep(5ms);  // the reader is parked in recv
      // Queued before the reader's wake-up: the kill lands while ~Socket lets the reader go.
      gev::spawn([&] { destroyer->kill(gev::KillOptions{.block = false}); });
      owner.reset();
      past_destructor = true;
      try {
        gev::sleep(5s);
      } catch (const gev::GreenletExit&) {
        killed_later = true;
        throw;
      }
    });
    CHECK(destroyer->join(10s));
    reader->join();
    CHECK(past_destructor);
    CHECK(killed_later);
    CHECK(reader_error == EBADF);
  }
  fds.check();
}

TEST_CASE("a huge timeout means practically never, not already passed") {
  FdBaseline fds;
  {
    auto [a, b] = gev::net::socketpair();
    a.settimeout(gev::Duration::max());
    b.settimeout(std::chrono::hours(24 * 365 * 100));  // a century, still representable
    const std::string big(2 << 20, 'z');
    auto reader = gev::spawn([&b, &big] {
      std::string got;
      char buf[65536];
      for (int i = 0; i < 100000 && got.size() < big.size(); ++i) {
        const std::size_t n = b.recv(buf, sizeof buf);
        if (n == 0) break;
        got.append(buf, n);
      }
      CHECK(got == big);
    });
    a.sendall(big);  // parks several times; each wait gets the (saturated) deadline
    reader->join();
  }
  fds.check();
}
