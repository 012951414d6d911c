// Monkey patching keeps POSIX semantics (SO_RCVTIMEO, poll timeouts), and gev::Timeout and kill()
// reach a greenlet parked inside plain blocking code.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gev/gev.hpp>
#include <gev/monkey/monkey.hpp>

#include <cerrno>
#include <cstdio>

using namespace std::chrono_literals;

int main() {
  gev::monkey::patch_all();
  int fds[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, fds);  // two blocking sockets; nobody ever writes
  int ticks = 0;
  auto ticker = gev::spawn([&] {  // runs whenever main is parked
    for (;;) {
      gev::sleep(10ms);
      ++ticks;
    }
  });

  timeval tv{0, 50'000};  // SO_RCVTIMEO: the wait parks this greenlet, then EAGAIN as usual
  setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  ssize_t n = recv(fds[0], &c, 1, 0);
  std::printf("recv with SO_RCVTIMEO: %zd, %s\n", n, errno == EAGAIN ? "EAGAIN" : "?");

  pollfd p{fds[1], POLLIN, 0};
  std::printf("poll for 50 ms: %d ready\n", poll(&p, 1, 50));  // the kernel's answer

  try {
    gev::Timeout deadline{50ms};
    n = read(fds[1], &c, 1);  // no timeout of its own: gev::Timeout is thrown out of read()
  } catch (const gev::Timeout&) {
    std::printf("gev::Timeout unwound read()\n");
  }
  auto reader = gev::spawn([&] { n = read(fds[1], &c, 1); });
  gev::sleep(10ms);  // the reader parks in read()
  reader->kill();    // GreenletExit is thrown from read() inside the reader
  std::printf("reader killed: dead=%d\n", reader->dead());

  std::printf("the ticker kept running meanwhile: %s\n", ticks >= 5 ? "yes" : "no");
  ticker->kill();
  close(fds[0]);
  close(fds[1]);
}
