// Python's generator protocol in gev::Generator: next() to the end, send(), close() and errors.
#include <gev/gev.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

struct Resource {  // stands for a file or a socket the body holds
  ~Resource() { std::printf("  body's resource released\n"); }
};

int main() {
  // next() returns an empty optional once the body returns (Python's StopIteration).
  gev::Generator<int> countdown([](gev::Yield<int>& co) {
    for (int i = 2; i > 0; --i) co.yield(i);
  });
  while (std::optional<int> v = countdown.next()) std::printf("countdown %d\n", *v);
  std::printf("finished: %d\n", countdown.finished());

  // send(): the value comes out of the pending co.yield(). Prime with next() first.
  gev::Generator<std::string, int> doubler([](gev::Yield<std::string, int>& co) {
    Resource r;
    int n = co.yield("ready");  // n = yield "ready"
    for (;;) n = co.yield(std::to_string(n) + " * 2 = " + std::to_string(2 * n));
  });
  try {
    doubler.send(1);  // not started yet: Python's TypeError
  } catch (const std::logic_error& e) {
    std::printf("send before next: %s\n", e.what());
  }
  std::printf("%s\n", doubler.next()->c_str());
  std::printf("%s\n", doubler.send(21)->c_str());
  doubler.close();  // GeneratorExit at the yield: the body unwinds, RAII runs
  std::printf("closed: finished=%d\n", doubler.finished());

  // An exception escaping the body comes out of next() once; the generator is then finished.
  gev::Generator<int> failing([](gev::Yield<int>& co) {
    co.yield(1);
    throw std::runtime_error("bad block");
  });
  try {
    for (int v : failing) std::printf("got %d\n", v);
  } catch (const std::runtime_error& e) {
    std::printf("error from the body: %s; finished=%d\n", e.what(), failing.finished());
  }
}
