// The seed's producer/consumer with a generator and send() (示例-消费者模型):
//
//   def consumer():
//       r = ''
//       while True:
//           n = yield r
//           print('[CONSUMER] Consuming %s...' % n)
//           r = '200 OK'
//
//   def produce(c):
//       c.next()
//       n = 0
//       while n < 5:
//           n = n + 1
//           print('[PRODUCER] Producing %s...' % n)
//           r = c.send(n)
//           print('[PRODUCER] Consumer return: %s' % r)
//       c.close()
//
// The consumer is a gev::Generator<std::string, int>: it yields strings and receives ints.
// Each send() switches straight into the consumer and back, no threads, no queue.
#include <gev/gev.hpp>
#include <gev/runtime/generator.hpp>

#include <iostream>
#include <string>

// [consumer]
gev::Generator<std::string, int> consumer() {
  return gev::Generator<std::string, int>([](gev::Yield<std::string, int>& co) {
    std::string r;
    for (;;) {
      int n = co.yield(r);  // n = yield r
      std::cout << "[CONSUMER] Consuming " << n << "..." << std::endl;
      r = "200 OK";
    }
  });
}

void produce(gev::Generator<std::string, int>& c) {
  c.next();  // prime: run the consumer to its first yield
  int n = 0;
  while (n < 5) {
    n = n + 1;
    std::cout << "[PRODUCER] Producing " << n << "..." << std::endl;
    std::string r = *c.send(n);
    std::cout << "[PRODUCER] Consumer return: " << r << std::endl;
  }
  c.close();  // GeneratorExit at the consumer's yield: its loop unwinds
}
// [consumer]

int main() {
  auto c = consumer();
  produce(c);
  std::cout << "consumer closed: " << (c.finished() ? "yes" : "no") << std::endl;
  return 0;
}
