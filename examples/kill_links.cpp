// kill() throws GreenletExit at the greenlet's blocking point; links run when a greenlet ends.
#include <gev/gev.hpp>

#include <cstdio>
#include <stdexcept>

using namespace std::chrono_literals;

struct Connection {  // RAII: closed however the greenlet ends
  ~Connection() { std::printf("  connection closed\n"); }
};

int main() {
  gev::set_error_hook([](const gev::ErrorReport& r) {
    std::printf("  error hook: %s\n", gev::describe_exception(r.error).c_str());
  });

  auto server = gev::spawn({.name = "server"}, [] {
    Connection c;
    gev::sleep(1h);  // would block for an hour
    return 0;
  });
  server->link([](gev::GreenletBase& g) {  // runs in a new fiber: it may block
    std::printf("  link: %s ended, successful=%d\n", g.name().c_str(), g.successful());
  });
  server->link_exception([](gev::GreenletBase&) { std::printf("  never: a kill is success\n"); });
  gev::sleep(10ms);                // let it start
  bool finished = server->kill();  // GreenletExit at its sleep; waits until it has unwound
  std::printf("kill returned %d; successful=%d\n", finished, server->successful());
  gev::sleep(0s);  // links run on a coming turn

  // Killing with another exception makes the greenlet fail with it.
  auto worker = gev::spawn({.name = "worker"}, [] { gev::sleep(1h); });
  worker->link_exception([](gev::GreenletBase& g) {
    std::printf("  link_exception: %s\n", gev::describe_exception(g.exception()).c_str());
  });
  worker->rawlink([](gev::GreenletBase&) { std::printf("  rawlink: in the hub, at once\n"); });
  gev::sleep(0s);
  worker->kill({.exception = std::make_exception_ptr(std::runtime_error("stop"))});
  std::printf("kill with runtime_error: successful=%d\n", worker->successful());
  gev::wait();  // run what is left (the link callbacks)

  // A link added after the end is scheduled at once.
  worker->link_value([](gev::GreenletBase&) { std::printf("  never: worker failed\n"); });
  server->link_value([](gev::GreenletBase&) { std::printf("  late link_value on server\n"); });
  gev::wait();
}
