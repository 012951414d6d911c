// The seed's "subclassing Greenlet" example (继承greenlet): override run() (gevent's _run).
//
//   class MyGreenlet(Greenlet):
//       def __init__(self, message, n): ...
//       def _run(self):
//           print(self.message)
//           gevent.sleep(self.n)
//
//   g = MyGreenlet("Hi there!", 3)
//   g.start()
//   g.join()
#include <gev/gev.hpp>

#include <iostream>
#include <string>

class MyGreenlet : public gev::Greenlet<void> {
 public:
  MyGreenlet(std::string message, int n) : message_(std::move(message)), n_(n) {}

 protected:
  void run() override {
    std::cout << message_ << std::endl;
    gev::sleep(std::chrono::seconds(n_));
  }

 private:
  std::string message_;
  int n_;
};

int main() {
  MyGreenlet g{"Hi there!", 3};
  g.start();
  g.join();
  std::cout << "joined after " << 3 << " s, successful=" << std::boolalpha << g.successful()
            << std::endl;
}
