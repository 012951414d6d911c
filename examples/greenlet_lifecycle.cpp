// A greenlet's states from creation to death: not started, scheduled, running, finished, killed.
#include <gev/gev.hpp>

#include <cstdio>

using namespace std::chrono_literals;

void show(const char* when, const gev::GreenletBase& g) {
  std::printf("%-20s %s: started=%d bool=%d ready=%d successful=%d exception=%s\n", when,
              g.name().c_str(), g.started(), static_cast<bool>(g), g.ready(), g.successful(),
              gev::describe_exception(g.exception()).c_str());
}

int main() {
  // make_greenlet() creates without starting (gevent's Greenlet(fn)); spawn() = make + start().
  auto g = gev::make_greenlet([] {
    gev::sleep(10ms);
    return 7;
  });
  g->set_name("worker");
  show("created:", *g);
  g->start();
  show("started:", *g);  // true as soon as it is scheduled, though it has not run yet
  gev::sleep(0s);        // let it run up to its sleep
  show("parked in sleep:", *g);
  g->join();
  show("finished:", *g);
  std::printf("value: %d\n", *g->value());

  // Killed before it ever ran: it never runs (and never takes a stack), yet counts as a success.
  auto never = gev::spawn([] {
    std::printf("never printed\n");
    return 0;
  });
  never->kill();
  show("killed before run:", *never);
  std::printf("value is empty: %d\n", !never->value().has_value());
}
