// The other queue kinds: PriorityQueue (smallest first, or largest with std::greater) and
// LifoQueue (last in, first out).
#include <gev/gev.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <utility>

int main() {
  // (priority, job) pairs compare by priority first: Python's heapq idiom.
  gev::PriorityQueue<std::pair<int, std::string>> jobs;
  jobs.put({3, "send newsletter"});
  jobs.put({1, "page the on-call"});
  jobs.put({2, "rotate logs"});
  while (!jobs.empty()) {
    auto [priority, job] = jobs.get();
    std::printf("priority %d: %s\n", priority, job.c_str());
  }

  gev::PriorityQueue<int, std::greater<int>> largest_first;
  for (int n : {5, 9, 1}) largest_first.put(n);
  std::printf("largest first:");
  while (!largest_first.empty()) std::printf(" %d", largest_first.get());
  std::printf("\n");

  gev::LifoQueue<std::string> stack;
  for (const char* page : {"home", "search", "results"}) stack.put(page);
  std::printf("back from:");
  while (!stack.empty()) std::printf(" %s", stack.get().c_str());
  std::printf("\n");
}
