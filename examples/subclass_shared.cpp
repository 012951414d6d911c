// A Greenlet subclass with a result, owned by a shared_ptr so joinall and links accept it.
#include <gev/gev.hpp>

#include <cstdio>
#include <memory>
#include <string>

using namespace std::chrono_literals;

class Download : public gev::Greenlet<std::size_t> {
 public:
  Download(std::string url, std::chrono::milliseconds delay)
      : gev::Greenlet<std::size_t>({.name = "download " + url}),
        url_(std::move(url)),
        delay_(delay) {}

 protected:
  std::size_t run() override {  // gevent's _run(); its result is what get() returns
    gev::sleep(delay_);
    return url_.size() * 100;
  }

 private:
  std::string url_;
  std::chrono::milliseconds delay_;
};

int main() {
  auto a = std::make_shared<Download>("/a.iso", 20ms);
  auto b = std::make_shared<Download>("/bigger.iso", 10ms);
  a->link([](gev::GreenletBase& g) { std::printf("link: %s done\n", g.name().c_str()); });
  a->start();  // make_shared alone does not start it
  b->start();
  gev::joinall({a, b});
  std::printf("%s: %zu bytes\n%s: %zu bytes\n", a->name().c_str(), a->get(), b->name().c_str(),
              b->get());
  gev::wait();  // let the link run

  // On the stack it works too, but like a std::thread it must finish before it is destroyed.
  Download c{"/c.iso", 1ms};
  c.start();
  std::printf("%s: %zu bytes\n", c.name().c_str(), c.get());
}
