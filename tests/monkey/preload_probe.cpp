// A gev program that does NOT link gev::monkey: a greenlet reads a blocking socket while another
// writes to it 20 ms later. Patched (LD_PRELOAD=libgev_monkey.so GEV_MONKEY=1) the read parks and
// the writer runs: "cooperative". Unpatched the read blocks the thread until its 1 s SO_RCVTIMEO
// and the writer never got to run: "blocked". Run by tests/monkey/hooks_test.cpp.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include <gev/gev.hpp>

int main() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 1;
  timeval tv{1, 0};
  ::setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t got = -1;
  auto reader = gev::spawn([&] {
    char c;
    got = ::read(fds[0], &c, 1);
  });
  auto writer = gev::spawn([&] {
    gev::sleep(std::chrono::milliseconds(20));
    ::write(fds[1], "x", 1);
  });
  gev::joinall({reader, writer});
  std::puts(got == 1 ? "cooperative" : "blocked");
  return 0;
}
