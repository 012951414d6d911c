// Helpers shared by the networking tests (not a test file itself: no _test suffix).
#pragma once

#include <dirent.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <string>
#include <system_error>

#include <gev/gev.hpp>
#include <gev/net/address.hpp>
#include <gev/net/resolver.hpp>
#include <gev/net/socket.hpp>

#include "runtime/runtime_support.hpp"

namespace gev::test {

// Entries of /proc/self/fd (the directory's own descriptor included, consistently).
inline int count_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

// The targets of /proc/self/fd, for a failure message.
inline std::string list_fds() {
  std::string out;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    char target[256] = {};
    std::string link = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    out += std::string(e->d_name) + "->" + (n > 0 ? std::string(target, n) : "?") + " ";
  }
  closedir(dir);
  return out;
}

// Records the descriptor count at construction (after the hub and its loop exist, so their own
// descriptors are not counted); check() waits for the hub to go quiet and expects the count
// back at the baseline.
struct FdBaseline {
  int before = (gev::sleep(std::chrono::nanoseconds(0)), count_fds());
  std::string before_list = list_fds();
  void check() const {
    expect_quiet_hub();
    const int after = count_fds();
    CHECK(after == before);
    if (after != before) MESSAGE("fds before: " << before_list << "\nfds after: " << list_fds());
  }
};

// A listening TCP socket on loopback (port chosen by the kernel).
inline gev::net::Socket make_listener(const char* host = "127.0.0.1", int backlog = 128) {
  gev::net::Address address{host, 0};
  gev::net::Socket listener(address.family(), SOCK_STREAM);
  listener.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  listener.bind(address);
  listener.listen(backlog);
  return listener;
}

struct CaughtError {
  bool thrown = false;
  int code = 0;  // errno value of the std::system_error
  std::string what;
  bool is_net_timeout = false;
};

// Runs fn and reports the std::system_error it threw (if any).
inline CaughtError catch_system_error(const std::function<void()>& fn) {
  CaughtError r;
  try {
    fn();
  } catch (const gev::net::timeout& e) {
    r.thrown = true;
    r.is_net_timeout = true;
    r.code = e.code().value();
    r.what = e.what();
  } catch (const std::system_error& e) {
    r.thrown = true;
    r.code = e.code().value();
    r.what = e.what();
  }
  return r;
}

// Sends `message`, reads the same number of bytes back. Stream: a Socket or an ssl::Stream.
template <class Stream>
std::string echo_once(Stream& s, const std::string& message) {
  s.sendall(message);
  std::string got;
  char buf[1024];
  for (int i = 0; i < 100000 && got.size() < message.size(); ++i) {
    std::size_t n = s.recv(buf, sizeof buf);
    if (n == 0) break;
    got.append(buf, n);
  }
  return got;
}

// Reads until the peer closes (bounded by `limit` bytes).
template <class Stream>
std::string read_to_eof(Stream& s, std::size_t limit = 1 << 20) {
  std::string got;
  char buf[4096];
  for (int i = 0; i < 1000000 && got.size() <= limit; ++i) {
    std::size_t n = s.recv(buf, sizeof buf);
    if (n == 0) break;
    got.append(buf, n);
  }
  return got;
}

}  // namespace gev::test
