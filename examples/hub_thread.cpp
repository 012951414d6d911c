// A hub on its own thread (HubThread) fed by other threads; Hub::post with a KeepAlive.
#include <gev/gev.hpp>

#include <cstdio>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

int main() {
  {
    gev::HubThread io{"io"};                  // starts the thread and its hub
    std::future<int> answer = io.submit([] {  // runs in a new greenlet over there
      gev::sleep(10ms);                       // blocks cooperatively, on io's hub
      return 42;
    });
    std::future<void> failing = io.submit([] { throw std::runtime_error("no route"); });
    std::promise<bool> in_hub;
    io.post([&in_hub] { in_hub.set_value(gev::get_hub().in_hub()); });  // must not block

    std::printf("answer: %d\n", answer.get());  // blocks this thread only
    try {
      failing.get();
    } catch (const std::runtime_error& e) {
      std::printf("submit's exception: %s\n", e.what());
    }
    std::printf("post ran inside io's hub: %d\n", in_hub.get_future().get());
  }  // ~HubThread: kills what is left there, joins the thread

  // Lower level: other threads post() into this thread's hub; a KeepAlive keeps main's wait
  // going until the last post releases it.
  gev::Hub& hub = gev::get_hub();
  int received = 0;
  auto keep_alive = std::make_unique<gev::Hub::KeepAlive>(hub);
  std::thread producer([&] {
    for (int i = 0; i < 3; ++i) hub.post([&received] { ++received; });
    hub.post([&keep_alive] { keep_alive.reset(); });
  });
  gev::wait();  // without the KeepAlive it would return at once
  producer.join();
  std::printf("received %d posts from another thread\n", received);
}
