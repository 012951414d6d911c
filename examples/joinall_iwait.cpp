// joinall with a timeout and with raise_error; iwait hands greenlets back as they finish.
#include <gev/gev.hpp>

#include <cstdio>
#include <stdexcept>
#include <vector>

using namespace std::chrono_literals;

int job(int ms) {
  gev::sleep(std::chrono::milliseconds(ms));
  if (ms == 20) throw std::runtime_error("job 20 failed");
  return ms;
}

int main() {
  gev::set_error_hook([](const gev::ErrorReport&) {});  // the failure is shown below instead

  // With a timeout, joinall returns the greenlets that finished in time (in the order given).
  std::vector<std::shared_ptr<gev::Greenlet<int>>> jobs;
  for (int ms : {30, 10, 400}) jobs.push_back(gev::spawn(job, ms));
  gev::GreenletList done = gev::joinall(jobs, 100ms);
  std::printf("within 100 ms: %zu of %zu finished\n", done.size(), jobs.size());
  gev::killall(jobs);  // do not leave the 400 ms job behind

  // raise_error: rethrow the first failure as soon as it happens, without waiting for the rest.
  auto ok = gev::spawn(job, 200);
  auto bad = gev::spawn(job, 20);
  try {
    gev::joinall({ok, bad}, std::nullopt, /*raise_error=*/true);
  } catch (const std::runtime_error& e) {
    std::printf("joinall raised: %s (ok still running: %d)\n", e.what(), !ok->ready());
  }
  ok->kill();

  // iwait: in completion order; count = 2 stops after the first two.
  gev::GreenletList racers;
  for (int ms : {70, 10, 30, 100}) racers.push_back(gev::spawn(job, ms));
  for (gev::GreenletBase& g : gev::iwait(racers, std::nullopt, 2)) {
    std::printf("finished: %d ms\n", static_cast<gev::Greenlet<int>&>(g).get());
  }
  gev::killall(racers);
}
