// The seed document's queue section ("to be written later"), written for gev: a producer and
// two consumers on a bounded gev::Queue, then a JoinableQueue of jobs drained by a small team
// of workers while main waits in join(). The output is deterministic: greenlets run in FIFO
// order and every switch happens at a queue operation.
//
//   q = gevent.queue.Queue(maxsize=2)
//   def producer(): for i in range(6): q.put(i); print("produced", i)
//   def consumer(name): for item in q: print(name, "got", item)
#include <gev/gev.hpp>
#include <gev/runtime/queue.hpp>

#include <chrono>
#include <iostream>
#include <string>

int main() {
  // 1. Producer / consumers with a bounded queue: the producer parks while the queue is full,
  //    consumers park while it is empty; close() ends the consumers' loops.
  gev::Queue<int> q{2};
  auto producer = gev::spawn([&] {
    for (int i = 1; i <= 6; ++i) {
      q.put(i);
      std::cout << "produced " << i << "\n";
    }
    q.close();
    std::cout << "producer done\n";
  });
  auto consumer = [&](const std::string& name) {
    int total = 0;
    for (int item : q) {
      std::cout << name << " got " << item << "\n";
      total += item;
    }
    std::cout << name << " finished, total " << total << "\n";
  };
  auto a = gev::spawn(consumer, std::string("consumer-a"));
  auto b = gev::spawn(consumer, std::string("consumer-b"));
  gev::joinall({producer, a, b});

  // 2. A JoinableQueue of jobs: workers call task_done() for each job; main's join() returns
  //    once every job has been processed.
  gev::JoinableQueue<std::string> jobs;
  int processed = 0;
  auto worker = [&](int id) {
    for (std::string& job : jobs) {
      gev::sleep(std::chrono::seconds(0));  // "work": yields, so the other worker runs meanwhile
      std::cout << "worker " << id << " finished " << job << "\n";
      ++processed;
      jobs.task_done();
    }
  };
  auto w1 = gev::spawn(worker, 1);
  auto w2 = gev::spawn(worker, 2);
  for (const char* job : {"fetch", "parse", "store", "index"}) jobs.put(job);
  jobs.join();
  std::cout << "all " << processed << " jobs done\n";
  jobs.close();
  gev::joinall({w1, w2});
  std::cout << "workers stopped\n";
  return 0;
}
