#include "gev/hub/hub_thread.hpp"

#include <pthread.h>

#include <stdexcept>

namespace gev {

HubThread::HubThread(std::string name) : name_(std::move(name)), creator_pid_(getpid()) {
  std::promise<Hub*> started;
  auto ready = started.get_future();
  thread_ = new std::thread([this, &started] { thread_main(started); });
  hub_ = ready.get();
}

HubThread::~HubThread() {
  if (getpid() != creator_pid_) return;  // forked child: the thread does not exist here
  stop();
  delete thread_;
}

void HubThread::thread_main(std::promise<Hub*>& started) {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  Hub& hub = Hub::current();
  {
    Hub::KeepAlive keep_alive(hub);  // wait for posts instead of raising LoopExit
    started.set_value(&hub);
    while (!stop_requested_) hub.park("HubThread idle");
  }
  // Returning destroys the thread's hub, which unwinds every greenlet still alive there.
}

void HubThread::post(std::function<void()> fn) {
  if (getpid() != creator_pid_) {
    throw std::logic_error("gev: HubThread '" + name_ +
                           "' does not exist in this forked child; create a new one here");
  }
  // Held across the hand-off so stop() cannot destroy the hub under a post in flight.
  std::lock_guard lock(lifetime_mutex_);
  if (stopping_) return;
  hub_->post(std::move(fn));
}

void HubThread::post_greenlet(std::function<void()> fn) {
  Hub* hub = hub_;
  post([hub, fn = std::move(fn)]() mutable { hub->spawn_raw(std::move(fn)); });
}

void HubThread::stop() {
  if (getpid() != creator_pid_) return;
  if (thread_->get_id() == std::this_thread::get_id()) {
    throw std::logic_error("gev: HubThread::stop called from its own thread");
  }
  bool first;
  {
    std::lock_guard lock(lifetime_mutex_);  // waits for posts in flight; later ones are dropped
    first = !stopping_;
    stopping_ = true;
  }
  if (first) {
    Hub* hub = hub_;
    hub->post([this, hub] {
      stop_requested_ = true;
      hub->unpark(hub->main_fiber());
    });
  }
  std::lock_guard join_lock(join_mutex_);
  if (thread_->joinable()) thread_->join();
}

}  // namespace gev
