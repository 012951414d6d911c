// Helpers shared by the runtime tests (not a test file itself: no _test suffix).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <gev/gev.hpp>

#include "support.hpp"

namespace gev::test {

using namespace std::chrono_literals;

// Parks main in short sleeps until pred() holds or `limit` passed. Returns pred().
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    gev::sleep(1ms);
  }
  return true;
}

// Counts constructions and destructions (RAII witness).
struct Witness {
  int* destroyed;
  explicit Witness(int* d) : destroyed(d) {}
  Witness(const Witness&) = delete;
  Witness& operator=(const Witness&) = delete;
  ~Witness() { ++*destroyed; }
};

// Captures error reports for the duration of a scope and restores the previous hook after.
class CaptureErrors {
 public:
  struct Report {
    std::string context;
    std::string description;
    std::exception_ptr error;
  };

  CaptureErrors() {
    previous_ = gev::set_error_hook([this](const gev::ErrorReport& r) {
      reports_.push_back({std::string(r.context), gev::describe_exception(r.error), r.error});
    });
  }
  CaptureErrors(const CaptureErrors&) = delete;
  CaptureErrors& operator=(const CaptureErrors&) = delete;
  ~CaptureErrors() { gev::set_error_hook(std::move(previous_)); }

  const std::vector<Report>& reports() const { return reports_; }
  std::size_t count() const { return reports_.size(); }

 private:
  gev::ErrorHook previous_;
  std::vector<Report> reports_;
};

// After a test: let pending work settle, then check nothing of the test is left alive, so the
// next test case starts from a quiet hub.
// (Polls live_greenlets() instead of gev::wait(timeout), which is tested on its own.)
inline void expect_quiet_hub() {
  CHECK(wait_until([] { return gev::get_hub().live_greenlets() == 0; }));
  gev::sleep(0s);
  CHECK(gev::get_hub().live_greenlets() == 0);
}

// The message of an exception_ptr holding a std::exception or a gev::BaseException.
inline std::string what_of(const std::exception_ptr& e) {
  if (!e) return "<null>";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (const gev::BaseException& x) {
    return x.what();
  } catch (...) {
    return "<unknown>";
  }
}

template <class E>
bool holds(const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

// run_in_child, but an exception escaping `body` ends the child with status 99 and a message,
// instead of unwinding into the (forked copy of the) test runner, which would go on running
// the remaining test cases inside the child.
inline ChildResult run_child(const std::function<int()>& body,
                             const std::function<void(pid_t, const std::string&)>& on_output = {},
                             std::chrono::seconds limit = std::chrono::seconds(60)) {
  return run_in_child(
      [&body]() -> int {
        try {
          return body();
        } catch (...) {
          std::fprintf(stderr, "child: uncaught exception: %s\n",
                       gev::describe_exception(std::current_exception()).c_str());
          return 99;
        }
      },
      on_output, limit);
}

}  // namespace gev::test
