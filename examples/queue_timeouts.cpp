// Queue errors: get/put with timeouts (Empty, Full), the _nowait forms, peek, and close().
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

int main() {
  gev::Queue<int> q{1};  // room for one item
  try {
    q.get(20ms);  // nothing arrives within 20 ms
  } catch (const gev::Empty& e) {
    std::printf("Empty: %s\n", e.what());
  }
  q.put(1);
  try {
    q.put(2, 20ms);  // nobody makes room within 20 ms
  } catch (const gev::Full& e) {
    std::printf("Full: %s\n", e.what());
  }
  try {
    q.put_nowait(2);  // never parks
  } catch (const gev::Full&) {
    std::printf("put_nowait: full\n");
  }

  auto putter = gev::spawn([&] { q.put(2); });  // parks: the queue is full
  gev::sleep(0s);
  std::printf("waiting putters: %zu\n", q.waiting_putters());
  std::printf("get_nowait: %d\n", q.get_nowait());
  // The parked putter's item entered the moment room was made.
  std::printf("qsize %zu, peek: %d\n", q.qsize(), q.peek());

  q.close();  // no more puts; what is queued can still be read
  try {
    q.put(3);
  } catch (const gev::QueueClosed& e) {
    std::printf("QueueClosed: %s\n", e.what());
  }
  std::printf("drained: %d\n", q.get());
  try {
    q.get();
  } catch (const gev::QueueClosed&) {
    std::printf("closed and drained: get() throws QueueClosed\n");
  }
  putter->join();
}
