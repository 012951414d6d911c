// gev::local: one value per greenlet (gevent.local), made on first access in each greenlet.
#include <gev/gev.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

gev::local<std::string> request_id;  // default-constructed in each greenlet
int made = 0;
gev::local<int> serial{[] { return ++made; }};  // or made by a factory, in the greenlet

void handle(std::string id) {
  std::printf("%s: has a value yet: %d\n", id.c_str(), request_id.has_value());
  *request_id = id;  // this greenlet's string
  gev::sleep(1ms);   // the other handler runs meanwhile and sets its own
  std::printf("request %s, serial %d\n", request_id->c_str(), *serial);
}

int main() {
  *request_id = "main";  // the main greenlet has a value of its own
  gev::joinall({gev::spawn(handle, "a"), gev::spawn(handle, "b")});
  std::printf("main still sees: %s, serial %d\n", request_id->c_str(), *serial);
  request_id.reset();  // the next access makes a fresh value
  std::printf("after reset: '%s'\n", request_id->c_str());
}
