#include "gev/runtime/async_result.hpp"

namespace gev::detail {
namespace {
void nothing_to_return(WaitList&, Waiter&) noexcept {}
}  // namespace

AsyncResultBase::AsyncResultBase() : hub_(&Hub::current()), waiters_(&nothing_to_return) {}

void AsyncResultBase::mark_ready() {
  hub_->check_thread("AsyncResult::set");
  ready_ = true;
  exception_ = nullptr;
  waiters_.notify_all();
}

void AsyncResultBase::set_exception(std::exception_ptr error) {
  hub_->check_thread("AsyncResult::set_exception");
  ready_ = true;
  exception_ = std::move(error);
  waiters_.notify_all();
}

bool AsyncResultBase::wait(std::optional<Duration> timeout) {
  hub_->check_thread("AsyncResult::wait");
  if (ready_) return true;
  Waiter w(waiters_, *hub_);
  if (!WaitList::wait(w, timeout, "AsyncResult.wait")) return false;
  w.accept();
  return true;
}

void AsyncResultBase::wait_for_get(std::optional<Duration> timeout) {
  if (!wait(timeout)) throw Timeout(timeout, Timeout::deferred);
  if (exception_) std::rethrow_exception(exception_);
}

}  // namespace gev::detail
