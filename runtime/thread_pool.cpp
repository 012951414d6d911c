#include "gev/runtime/thread_pool.hpp"

#include <pthread.h>

#include <algorithm>

#include "gev/hub/park_timer.hpp"
#include "gev/runtime/timeout.hpp"

namespace gev {
namespace detail {

namespace {

// Owns this thread's HubLink; detaches it when the thread exits. Constructed after the thread's
// hub (HubLink::current() calls Hub::current() first), so it is destroyed before the hub.
struct HubLinkOwner {
  std::shared_ptr<HubLink> link;
  ~HubLinkOwner() {
    if (link) link->detach();
  }
};
thread_local HubLinkOwner tl_link_owner;

}  // namespace

std::shared_ptr<HubLink> HubLink::current() {
  Hub& hub = Hub::current();
  auto& owner = tl_link_owner;
  if (!owner.link) owner.link = std::make_shared<HubLink>(hub);
  return owner.link;
}

void HubLink::task_started() {
  if (in_flight_++ == 0 && hub_) keep_alive_.emplace(*home_);
}

void HubLink::task_finished() noexcept {
  if (in_flight_ > 0 && --in_flight_ == 0) keep_alive_.reset();
}

void HubLink::deliver(std::function<void()> fn) {
  std::lock_guard lock(mutex_);  // held across post(): detach() waits, the hub outlives it
  if (hub_) hub_->post(std::move(fn));
}

void HubLink::detach() noexcept {
  {
    std::lock_guard lock(mutex_);
    hub_ = nullptr;
  }
  in_flight_ = 0;
  keep_alive_.reset();  // on the hub's thread, the hub still alive
}

// ---------------------------------------------------------------------------------------------

bool ThreadTaskStateBase::wait(std::optional<Duration> timeout) {
  if (done_) return true;
  Hub& hub = link_->hub();
  hub.check_thread("ThreadResult::wait");
  Waiter w(waiters_, hub);
  if (!WaitList::wait(w, timeout, "ThreadResult.get")) return false;
  w.accept();
  return true;
}

void ThreadTaskStateBase::wait_for_result(std::optional<Duration> timeout) {
  if (!done_) {
    if (timeout) {
      Timeout t{*timeout};
      wait(std::nullopt);
    } else {
      wait(std::nullopt);
    }
  }
  if (error_) std::rethrow_exception(error_);
}

void ThreadTaskStateBase::deliver(const std::shared_ptr<ThreadTaskStateBase>& self) {
  link_->deliver([self] { self->complete(); });
}

void ThreadTaskStateBase::complete() noexcept {
  done_ = true;
  waiters_.notify_all();
  link_->task_finished();
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

// A greenlet parked in ThreadPool::join(), told through its hub when the pool goes idle.
struct ThreadPool::JoinWaiter {
  std::shared_ptr<detail::HubLink> link;
  Hub* hub = nullptr;
  detail::Fiber* fiber = nullptr;
  bool done = false;    // hub thread only
  bool waiting = true;  // hub thread only: false once join() returned
};

ThreadPool::ThreadPool(std::size_t size) : max_threads_(std::max<std::size_t>(size, 1)) {}

ThreadPool::~ThreadPool() {
  kill();
}

std::shared_ptr<detail::HubLink> ThreadPool::prepare_submit() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw ThreadPoolClosed("gev::ThreadPool: spawn after shutdown()/kill()");
  }
  auto link = detail::HubLink::current();
  link->task_started();
  return link;
}

void ThreadPool::submit(std::unique_ptr<detail::ThreadJob> job) {
  std::unique_lock lock(mutex_);
  if (closed_) {
    lock.unlock();
    job->cancel(std::make_exception_ptr(
        ThreadPoolClosed("gev::ThreadPool: closed before the task could start")));
    return;
  }
  queue_.push_back(std::move(job));
  if (idle_threads_ < queue_.size() && live_threads_ < max_threads_) {
    ++live_threads_;
    threads_.emplace_back([this] { worker_main(); });
  } else {
    work_cv_.notify_one();
  }
}

void ThreadPool::worker_main() {
  pthread_setname_np(pthread_self(), "gev-threadpool");
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_threads_;
    work_cv_.wait(lock,
                  [this] { return closed_ || !queue_.empty() || live_threads_ > max_threads_; });
    --idle_threads_;
    if (queue_.empty() || live_threads_ > max_threads_) {
      // Closed with nothing left to do, or retired by resize(): this thread ends.
      --live_threads_;
      return;
    }
    std::unique_ptr<detail::ThreadJob> job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    job->run();
    job.reset();  // fn and its arguments are destroyed on this thread
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) notify_idle_locked();
  }
}

void ThreadPool::notify_idle_locked() {
  for (auto& w : join_waiters_) {
    w->link->deliver([w] {
      w->done = true;
      if (w->waiting) w->hub->unpark(*w->fiber);
    });
  }
  join_waiters_.clear();
}

bool ThreadPool::join(std::optional<Duration> timeout) {
  Hub& hub = Hub::current();
  auto waiter = std::make_shared<JoinWaiter>();
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty() && running_ == 0) return true;
    waiter->link = detail::HubLink::current();
    waiter->hub = &hub;
    waiter->fiber = &hub.current_fiber();
    join_waiters_.push_back(waiter);
  }
  Hub::KeepAlive keep_alive(hub);  // tasks spawned from other hubs do not hold ours
  struct Done {
    JoinWaiter& w;
    ~Done() { w.waiting = false; }
  } done{*waiter};
  ParkTimer timer(hub, *waiter->fiber, timeout);
  while (!waiter->done) {
    if (timer.expired()) {
      std::lock_guard lock(mutex_);
      std::erase(join_waiters_, waiter);
      return false;
    }
    hub.park("ThreadPool.join");
  }
  return true;
}

void ThreadPool::shutdown() {
  stop(false);
}

void ThreadPool::kill() {
  stop(true);
}

void ThreadPool::stop(bool cancel_queued) {
  std::deque<std::unique_ptr<detail::ThreadJob>> cancelled;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    if (cancel_queued) cancelled.swap(queue_);
    work_cv_.notify_all();
  }
  for (auto& job : cancelled) {
    job->cancel(std::make_exception_ptr(
        ThreadPoolClosed("gev::ThreadPool: killed before the task could start")));
  }
  cancelled.clear();
  std::lock_guard stop_lock(stop_mutex_);
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& t : threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // stopped from one of its own tasks: cannot join itself
    } else if (t.joinable()) {
      t.join();
    }
  }
  std::lock_guard lock(mutex_);
  if (queue_.empty() && running_ == 0) notify_idle_locked();
}

std::size_t ThreadPool::size() const {
  std::lock_guard lock(mutex_);
  return max_threads_;
}

void ThreadPool::resize(std::size_t size) {
  std::lock_guard lock(mutex_);
  max_threads_ = std::max<std::size_t>(size, 1);
  work_cv_.notify_all();  // idle threads beyond the new size retire
  // Grow: start threads for tasks already waiting.
  while (!closed_ && idle_threads_ < queue_.size() && live_threads_ < max_threads_) {
    ++live_threads_;
    threads_.emplace_back([this] { worker_main(); });
  }
}

std::size_t ThreadPool::thread_count() const {
  std::lock_guard lock(mutex_);
  return live_threads_;
}

std::size_t ThreadPool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::size_t ThreadPool::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

bool ThreadPool::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace gev
