// Channel: an unbuffered rendezvous. put() returns only once a getter has taken the item.
#include <gev/gev.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main() {
  gev::Channel<std::string> ch;
  try {
    ch.put("hello?", 20ms);  // no getter takes it within 20 ms
  } catch (const gev::Full&) {
    std::printf("put timed out: nobody was receiving\n");
  }

  auto sender = gev::spawn([&] {
    for (const char* msg : {"ping", "pong"}) {
      std::printf("sending %s\n", msg);
      ch.put(msg);  // parks until main takes it
      std::printf("%s delivered\n", msg);
    }
    ch.close();  // ends main's loop
  });
  gev::sleep(10ms);
  std::printf("balance: %td (one putter waiting)\n", ch.balance());
  for (std::string& msg : ch) {
    std::printf("received %s\n", msg.c_str());
    gev::sleep(10ms);  // a slow receiver holds the sender back
  }
  sender->join();
}
