// The seed's "greenlet states" example (协程状态): started, ready(), successful(), value and
// exception of a greenlet that succeeds and of one that fails.
//
//   woker1 = gevent.spawn(worker)
//   state = woker1.started
//   state = woker1.successful()
//   result = worker1.value
#include <gev/gev.hpp>

#include <iostream>
#include <stdexcept>

using namespace std::chrono_literals;

int worker() {
  gev::sleep(10ms);
  return 42;
}

int failing_worker() {
  gev::sleep(10ms);
  throw std::runtime_error("worker failed");
}

static const char* yes_no(bool b) {
  return b ? "true" : "false";
}

int main() {
  // A failed greenlet is reported once on stderr; this example shows it through exception().
  gev::set_error_hook([](const gev::ErrorReport&) {});

  auto worker1 = gev::spawn(worker);
  auto worker2 = gev::spawn(failing_worker);

  std::cout << "after spawn:  started=" << yes_no(worker1->started())
            << " ready=" << yes_no(worker1->ready())
            << " successful=" << yes_no(worker1->successful())
            << " value=" << (worker1->value() ? std::to_string(*worker1->value()) : "none") << "\n";

  gev::joinall({worker1, worker2});

  std::cout << "worker1 done: started=" << yes_no(worker1->started())
            << " ready=" << yes_no(worker1->ready())
            << " successful=" << yes_no(worker1->successful())
            << " value=" << (worker1->value() ? std::to_string(*worker1->value()) : "none")
            << " exception=" << (worker1->exception() ? "yes" : "none") << "\n";

  std::cout << "worker2 done: started=" << yes_no(worker2->started())
            << " ready=" << yes_no(worker2->ready())
            << " successful=" << yes_no(worker2->successful())
            << " value=" << (worker2->value() ? std::to_string(*worker2->value()) : "none")
            << " exception=" << gev::describe_exception(worker2->exception()) << "\n";

  // get() returns the value, or rethrows what the greenlet threw.
  std::cout << "worker1->get() = " << worker1->get() << "\n";
  try {
    worker2->get();
  } catch (const std::runtime_error& e) {
    std::cout << "worker2->get() threw: " << e.what() << "\n";
  }
}
