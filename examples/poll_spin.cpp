// Hub tuning: request/response round trips to a hub on another thread with poll spin on (the
// default), off, and with I/O batching instead. Both settings belong to one hub (one thread).
#include <sys/socket.h>
#include <gev/gev.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

struct Setting {
  const char* name;
  gev::Duration spin, batching;
};

static void tune(const Setting& s) {           // affects the calling thread's hub only
  gev::get_hub().set_poll_spin(s.spin);        // default 50 us, or GEV_POLL_SPIN_US; 0 turns it off
  gev::get_hub().set_io_batching(s.batching);  // default off, or GEV_IO_BATCH_US
}

int main() {
  constexpr int kRounds = 1000;
  gev::HubThread peer("echo-peer");  // a hub on its own OS thread: the "server"
  for (const Setting& setting :
       {Setting{"poll spin 50 us", 50us, 0us}, Setting{"poll spin off", 0us, 0us},
        Setting{"I/O batching 50 us", 0us, 50us}}) {
    int fds[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
    peer.submit([fd = fds[1], setting] {  // runs in a greenlet on the peer's hub
      tune(setting);
      auto s = gev::net::Socket::adopt(fd);  // a Socket belongs to the hub that uses it
      char c;
      while (s.recv(&c, sizeof c) == 1) s.sendall(&c, sizeof c);  // ends when we close
    });
    tune(setting);
    auto s = gev::net::Socket::adopt(fds[0]);
    char c = 'x';
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kRounds; ++i) {
      s.sendall(&c, sizeof c);
      s.recv(&c, sizeof c);
    }
    const std::chrono::duration<double, std::micro> each =
        (std::chrono::steady_clock::now() - start) / kRounds;
    std::printf("%-18s %d round trips, %.1f us each\n", setting.name, kRounds, each.count());
  }
}
