// The seed's "events" section (事件): Event (wait() subscribes, set() publishes) and the
// AsyncResult example with setter, waiter and worker3 — while the waiter is parked in get(),
// worker3 runs.
//
//   a = AsyncResult()
//   def setter():  gevent.sleep(3); a.set('Hello!')
//   def waiter():  print(a.get())
//   def worker3(): print "worker3"
//   gevent.joinall([gevent.spawn(waiter), gevent.spawn(setter), gevent.spawn(worker3)])
#include <gev/gev.hpp>

#include <iostream>
#include <string>

using namespace std::chrono_literals;

int main() {
  // Event: three subscribers wait, one publisher sets.
  gev::Event evt;
  std::vector<std::shared_ptr<gev::Greenlet<void>>> subscribers;
  for (int i = 1; i <= 3; ++i) {
    subscribers.push_back(gev::spawn([&evt, i] {
      std::cout << "subscriber " << i << " waiting" << std::endl;
      evt.wait();
      std::cout << "subscriber " << i << " got the event" << std::endl;
    }));
  }
  auto publisher = gev::spawn([&evt] {
    gev::sleep(100ms);
    std::cout << "publisher sets the event" << std::endl;
    evt.set();
  });
  gev::joinall(subscribers);
  publisher->join();

  // AsyncResult: the seed's setter / waiter / worker3.
  gev::AsyncResult<std::string> a;
  auto setter = [&a] {
    gev::sleep(3s);
    a.set("Hello!");
  };
  auto waiter = [&a] { std::cout << a.get() << std::endl; };
  auto worker3 = [] { std::cout << "worker3" << std::endl; };
  gev::joinall({gev::spawn(waiter), gev::spawn(setter), gev::spawn(worker3)});
}
