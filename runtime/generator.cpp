// The generator switching protocol. See generator.hpp for the user's view.
//
// A generator is a fiber (GeneratorCore) entered and left by direct switches
// (Hub::switch_into), not through the hub's ready queue:
//
//   caller: resume()                           generator body
//     caller_ = me; status_ = running
//     me.interrupt_delegate = gen  ------>     (first run, or returns from suspend())
//     gen.acting_for = me                      ... may park (sleep, I/O): the hub runs others
//     switch_into(gen, "generator")            co.yield(v): out = v; hand_back();
//                                  <------       status_ = suspended; switch_into(caller, "yield")
//     returns out                              body returns / throws: status_ = finished;
//                                                hand_back(); unpark(caller); fiber dies
//
// While the body runs for a caller, the caller is parked ("generator") and every interrupt aimed
// at it goes to the body (Hub::interrupt follows interrupt_delegate), so a kill or Timeout lands
// at the body's blocking point and comes back out of next() the way it would in gevent, where
// the generator frame runs on the caller's greenlet. A spurious wake-up of the caller only makes
// it park again until status_ leaves `running`.
//
// A generator that is resumed by the hub instead of a caller (an interrupt while suspended:
// shutdown, hub teardown, an asynchronous close) runs "detached": it has nobody to hand values
// to, so a yield there drops the value and parks until a caller resumes it.
#include "gev/runtime/generator.hpp"

#include <algorithm>
#include <cstring>

#include "gev/hub/error_hook.hpp"

namespace gev::detail {
namespace {

bool is_kill(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const GreenletExit&) {
    return true;
  } catch (...) {
    return false;
  }
}

bool is_exit(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const GreenletExit&) {
    return true;
  } catch (const GeneratorExit&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

std::size_t GeneratorCore::fiber_name_into(char* buf, std::size_t len) const noexcept {
  static constexpr char kName[] = "generator";
  const std::size_t n = std::min(len, sizeof kName - 1);
  std::memcpy(buf, kName, n);
  return n;
}

void GeneratorCore::hand_back() noexcept {
  if (caller_) caller_->set_interrupt_delegate(nullptr);
  caller_ = nullptr;
  set_acting_for(nullptr);
}

void GeneratorCore::resume(bool sending) {
  if (status_ == Status::finished) {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return;
  }
  if (hub_) hub_->check_thread("gev::Generator");
  Hub& hub = hub_ ? *hub_ : Hub::current();
  if (status_ == Status::running) throw std::logic_error("gev: generator already executing");
  if (status_ == Status::created && sending) {
    throw std::logic_error(
        "gev: can't send a value to a just-started generator; call next() first");
  }
  if (hub.in_hub()) {
    throw BlockingSwitchOutError(
        "gev: generator resumed inside the hub (a callback); resume it from a greenlet");
  }
  hub_ = &hub;
  Fiber& self = hub.current_fiber();
  if (status_ == Status::created) keep_alive_ = shared_from_this();
  caller_ = &self;
  status_ = Status::running;
  self.set_interrupt_delegate(this);
  set_acting_for(&self);

  bool entered = false;
  while (status_ == Status::running) {
    try {
      if (!entered) {
        entered = true;
        hub.switch_into(*this, "generator");
      } else {
        hub.park("generator");
      }
    } catch (...) {
      // An interrupt that was already pending on the caller before it delegated to the body.
      if (status_ == Status::running) {
        // The body still runs for us: deliver it there, as for any later interrupt.
        std::exception_ptr e = std::current_exception();
        hub.interrupt(*this, e, is_kill(e));
        continue;
      }
      drop_output();  // the body already yielded or ended; this wait was interrupted anyway
      throw;
    }
  }
  if (status_ == Status::finished && error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void GeneratorCore::suspend() {
  Hub& hub = *hub_;
  Fiber* caller = caller_;
  hand_back();
  status_ = Status::suspended;
  try {
    if (caller) {
      hub.switch_into(*caller, "yield");
    } else {
      drop_output();  // detached: nobody takes the value
      hub.park("yield");
    }
  } catch (...) {
    // Resumed by an interrupt through the hub rather than by a caller: run on, detached.
    if (status_ == Status::suspended) status_ = Status::running;
    throw;
  }
  if (throw_in_) std::rethrow_exception(std::exchange(throw_in_, nullptr));  // close()
}

void GeneratorCore::close() {
  switch (status_) {
    case Status::finished:
      error_ = nullptr;
      return;
    case Status::created:  // never ran: it never will, and it holds no stack
      status_ = Status::finished;
      return;
    case Status::running:
      throw std::logic_error("gev: generator already executing");
    case Status::suspended:
      break;
  }
  throw_in_ = std::make_exception_ptr(GeneratorExit());
  try {
    resume(false);
  } catch (const GeneratorExit&) {
    return;  // the body let it propagate: closed
  }
  if (status_ != Status::finished) {
    drop_output();
    throw std::runtime_error("gev: generator ignored GeneratorExit");
  }
}

void GeneratorCore::close_noexcept() noexcept {
  if (status_ == Status::created) {
    status_ = Status::finished;
    return;
  }
  if (status_ == Status::finished) return;
  Hub* hub = Hub::current_if_exists();
  if (hub == nullptr || hub != hub_) return;  // another thread, or its hub is gone: leave it
  if (status_ == Status::suspended && !hub->in_hub()) {
    try {
      close();
    } catch (...) {
      // If it yielded again it stays suspended (kept alive by its own reference) until the hub
      // abandons it at shutdown or thread exit.
      report_error("generator (closed by its destructor)", std::current_exception());
    }
    return;
  }
  if (status_ == Status::suspended) {
    // In a callback: close asynchronously. The hub runs it detached; it unwinds from its yield.
    hub->interrupt(*this, std::make_exception_ptr(GeneratorExit()), true);
  }
  // Running (for some caller, or detached): it goes on to its next yield or its end; its own
  // reference keeps it alive meanwhile.
}

void GeneratorCore::fiber_main() noexcept {
  try {
    run_body();
  } catch (...) {
    error_ = std::current_exception();
  }
  drop_output();
  status_ = Status::finished;
  Fiber* caller = caller_;
  hand_back();
  if (caller) {
    hub_->unpark(*caller);
  } else if (error_ && is_exit(error_)) {
    error_ = nullptr;  // detached and told to exit: nobody to tell
  }
}

void GeneratorCore::fiber_start_failed(std::exception_ptr error) noexcept {
  // No stack for the first run: Hub::switch_into returns to the caller without switching.
  error_ = std::move(error);
  status_ = Status::finished;
  hand_back();
}

void GeneratorCore::fiber_dead() noexcept {
  status_ = Status::finished;
  auto self = std::move(keep_alive_);  // released last: it may be the final reference
}

}  // namespace gev::detail
