/// @file
/// Generators: Python's `yield`, as stackful coroutines on the hub's fibers.
///
/// @code
/// gev::Generator<int> fib(int max) {
///   return gev::Generator<int>([max](gev::Yield<int>& co) {
///     int a = 0, b = 1;
///     for (int n = 0; n < max; ++n) {
///       co.yield(b);
///       a = std::exchange(b, a + b);
///     }
///   });
/// }
/// for (int x : fib(5)) std::cout << x << "\n";        // 1 1 2 3 5
///
/// gev::Generator<std::string, int> consumer() {       // send(): values go in, results come out
///   return gev::Generator<std::string, int>([](gev::Yield<std::string, int>& co) {
///     std::string r;
///     for (;;) {
///       int n = co.yield(r);                          // n = yield r
///       r = "200 OK";
///     }
///   });
/// }
/// auto c = consumer(); c.next(); auto r = c.send(1); c.close();
/// @endcode
///
/// Caller API (Python's generator protocol):
/// - next(): runs the body to its next yield: the yielded value, or empty at the end.
/// - send(s): the same, and `co.yield(...)` returns s inside the body. A just-started generator
///   must be primed with next() first (Python's TypeError: std::logic_error here).
///   next() on a generator with S != void makes the pending yield return S{}.
/// - close(): throws gev::GeneratorExit at the body's yield point, so its stack unwinds and RAII
///   runs; further next() return empty. A body that yields again instead of finishing
///   makes close() throw std::runtime_error ("generator ignored GeneratorExit").
/// - range-for: begin() primes (the first next()), ++ advances, the end is an empty next().
///
/// An exception escaping the body propagates to the caller of next()/send() (once); the
/// generator is then finished. Destroying an unfinished generator closes it.
///
/// Blocking inside a body: the body runs on its own fiber, entered and left by direct switches
/// (no hub turn per item). When it blocks (gev::sleep, socket I/O, Event::wait...) it parks like
/// any greenlet; its caller stays parked ("generator") until the body yields or ends. As in
/// gevent, where a generator runs on its caller's greenlet, the body acts for its caller while it
/// runs: a kill or Timeout aimed at the caller is thrown at the body's blocking point (and so
/// usually comes out of next() as that exception), and `gev::local<T>` sees the caller's values.
///
/// Rules: one caller at a time (resuming a running generator, e.g. from its own body, throws
/// std::logic_error "generator already executing"); a generator belongs to the hub of the thread
/// that first runs it; it cannot be resumed inside the hub (a callback). Each generator that ran
/// holds a fiber stack (default size, or SpawnOptions::stack_size) until it finishes; it counts
/// in Hub::live_greenlets() meanwhile.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "gev/hub/errors.hpp"
#include "gev/hub/fiber.hpp"
#include "gev/hub/hub.hpp"
#include "gev/runtime/greenlet.hpp"

namespace gev {

/// Thrown at a generator's yield point by close() (Python's GeneratorExit). Like GreenletExit it
/// is not a std::exception, so `catch (const std::exception&)` in a body lets it pass.
class GeneratorExit : public BaseException {
 public:
  /// "GeneratorExit".
  const char* what() const noexcept override { return "GeneratorExit"; }
};

template <class Y, class S = void>
class Generator;
template <class Y, class S = void>
class Yield;

/// @cond INTERNAL
namespace detail {

// The untyped part of a generator: its fiber, its state and the switching protocol
// (runtime/generator.cpp). Heap-allocated, shared by the Generator handle and, while the body
// has a stack, by itself (so an abandoned body can still unwind safely).
class GeneratorCore : public Fiber, public std::enable_shared_from_this<GeneratorCore> {
 public:
  enum class Status : std::uint8_t { created, suspended, running, finished };

  explicit GeneratorCore(std::size_t stack_size) noexcept { stack_size_ = stack_size; }

  Status status() const noexcept { return status_; }
  std::string fiber_name() const override { return "generator"; }
  std::size_t fiber_name_into(char* buf, std::size_t len) const noexcept override;

  // Caller side. Runs the body until it yields or finishes; rethrows an exception that escaped
  // it. `sending`: the call carries a value (send()), which a just-started body cannot take.
  void resume(bool sending);
  // Throws GeneratorExit into the body at its yield point and runs it until it finishes.
  void close();
  // For the destructor of the handle: close() when possible, report errors, never throw.
  void close_noexcept() noexcept;

 protected:
  // Body side: hand control back to the caller; returns when resumed by the next next()/send(),
  // or throws GeneratorExit (close) or an interrupt.
  void suspend();
  // The typed body, given `this` as a Yield object.
  virtual void run_body() = 0;
  // Discards a yielded value the caller will never take (error paths).
  virtual void drop_output() noexcept = 0;

 private:
  void fiber_main() noexcept override;
  void fiber_dead() noexcept override;
  void fiber_start_failed(std::exception_ptr error) noexcept override;
  void hand_back() noexcept;  // stop acting for the caller

  Hub* hub_ = nullptr;
  Fiber* caller_ = nullptr;                    // while running for someone
  std::exception_ptr error_;                   // escaped the body, not yet delivered
  std::exception_ptr throw_in_;                // close(): thrown at the yield point
  std::shared_ptr<GeneratorCore> keep_alive_;  // while the body has a stack
  Status status_ = Status::created;
};

template <class Y, class S>
class TypedGeneratorCore : public GeneratorCore {
 public:
  using GeneratorCore::GeneratorCore;

  std::optional<Y> out;  // yielded
  [[no_unique_address]] std::conditional_t<std::is_void_v<S>, std::nullptr_t, std::optional<S>>
      in{};  // sent

  // Body side of Yield::yield.
  void put(Y&& value) {
    out.emplace(std::move(value));
    suspend();
  }

 protected:
  void drop_output() noexcept override { out.reset(); }
};

template <class Y, class S, class F>
class GeneratorCoreImpl final : public TypedGeneratorCore<Y, S> {
 public:
  GeneratorCoreImpl(std::size_t stack_size, F&& fn)
      : TypedGeneratorCore<Y, S>(stack_size), fn_(std::move(fn)) {}

 protected:
  void run_body() override {
    Yield<Y, S> co(*this);
    F fn = std::move(*fn_);  // its captures live on the generator's stack, freed as it ends
    fn_.reset();
    fn(co);
  }

 private:
  std::optional<F> fn_;
};

}  // namespace detail
/// @endcond

/// What a generator body receives: co.yield(v) (or co(v)) hands v to the caller and suspends.
/// With S != void it returns the value the caller resumed with (send(s); S{} for next()).
///
/// @tparam Y the type of the values yielded.
/// @tparam S the type of the values sent in (void: none).
template <class Y, class S>
class Yield {
 public:
  using yield_type = Y;  ///< The type of the values yielded.
  using send_type = S;   ///< The type of the values sent in (void: none).

  /// Made by the generator for its body; not for user code.
  explicit Yield(detail::TypedGeneratorCore<Y, S>& core) noexcept : core_(core) {}
  Yield(const Yield&) = delete;
  Yield& operator=(const Yield&) = delete;

  /// Hands `value` to the caller and suspends until the next next()/send(). With S != void,
  /// returns the value sent (S{} for next()). Throws GeneratorExit when the generator is closed.
  S yield(Y value) {
    core_.put(std::move(value));
    if constexpr (!std::is_void_v<S>) {
      if (!core_.in) throw std::logic_error("gev: generator resumed without a value to send");
      S s = std::move(*core_.in);
      core_.in.reset();
      return s;
    }
  }
  /// yield(value).
  S operator()(Y value) { return yield(std::move(value)); }

 private:
  detail::TypedGeneratorCore<Y, S>& core_;
};

/// A generator (Python's generator): a body run on its own fiber, handing values to its caller
/// at each co.yield(). See generator.hpp for the protocol.
///
/// @tparam Y the type of the values yielded.
/// @tparam S the type of the values sent in with send() (void: none).
template <class Y, class S>
class Generator {
 public:
  using value_type = Y;            ///< The type of the values yielded.
  using send_type = S;             ///< The type of the values sent in (void: none).
  using yield_type = Yield<Y, S>;  ///< What the body is given.

  /// `body` is called as body(Yield<Y, S>&) on the generator's fiber at the first next(); it is
  /// moved into the generator. Nothing runs before that.
  template <class F>
  requires std::invocable < std::decay_t<F>
  &, Yield<Y, S>& > explicit Generator(F&& body)
      : Generator(SpawnOptions{}, std::forward<F>(body)) {}
  /// The same with a stack size (SpawnOptions::stack_size; the name is unused).
  template <class F>
  requires std::invocable < std::decay_t<F>
  &, Yield<Y, S>& > Generator(SpawnOptions options, F&& body)
      : core_(std::make_shared<detail::GeneratorCoreImpl<Y, S, std::decay_t<F>>>(
            options.stack_size, std::decay_t<F>(std::forward<F>(body)))) {}

  /// Takes over `other`'s body; `other` is left finished.
  Generator(Generator&&) noexcept = default;
  /// Closes this generator if unfinished (as the destructor does), then takes over `other`'s.
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      reset();
      core_ = std::move(other.core_);
      current_ = std::move(other.current_);
    }
    return *this;
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  /// Closes an unfinished generator (its RAII runs); errors are reported, never thrown.
  ~Generator() { reset(); }

  /// Run to the next yield: its value, or empty when the body finished (or was closed).
  /// Rethrows what escaped the body.
  std::optional<Y> next() {
    if constexpr (!std::is_void_v<S>) {
      if constexpr (std::default_initializable<S>) {
        if (core_ && core_->status() == detail::GeneratorCore::Status::suspended)
          core_->in.emplace();
      } else {
        if (core_ && core_->status() == detail::GeneratorCore::Status::suspended) {
          throw std::logic_error(
              "gev: next() on a generator waiting for send(): its send type "
              "has no default value");
        }
      }
    }
    return step(false);
  }

  /// Resume the body with `value` as the result of its pending yield; returns the next yielded
  /// value (empty at the end). Throws std::logic_error on a just-started generator (call next()).
  template <class U = S>
  requires(!std::is_void_v<U>) std::optional<Y> send(U value) {
    if (core_ && core_->status() == detail::GeneratorCore::Status::suspended) {
      core_->in.emplace(std::move(value));
    }
    return step(true);
  }

  /// Throw GeneratorExit into the body and let it unwind. A no-op when finished or never
  /// started (a never-started body never runs). Rethrows what else escaped the body.
  void close() {
    if (core_) core_->close();
  }

  /// Out of its initial, never-started state: it was run (next(), range-for) or closed.
  bool started() const noexcept {
    return core_ && core_->status() != detail::GeneratorCore::Status::created;
  }
  /// The body is running (its caller is inside next(), send() or close()).
  bool running() const noexcept {
    return core_ && core_->status() == detail::GeneratorCore::Status::running;
  }
  /// The body finished, or was closed (also true for a moved-from generator).
  bool finished() const noexcept {
    return !core_ || core_->status() == detail::GeneratorCore::Status::finished;
  }

  // ---- range-for ---------------------------------------------------------------------------
  /// An input iterator over the yielded values (compares equal to end() once the body ends).
  class iterator {
   public:
    using value_type = Y;                              ///< The type of the values yielded.
    using difference_type = std::ptrdiff_t;            ///< Required of iterators; unused.
    using iterator_concept = std::input_iterator_tag;  ///< Single pass.

    /// An iterator at the end.
    iterator() = default;
    /// The current value.
    Y& operator*() const { return *gen_->current_; }
    /// @copydoc operator*()
    Y* operator->() const { return &*gen_->current_; }
    /// Runs the body to its next yield (next(), which rethrows what escaped the body).
    iterator& operator++() {
      gen_->advance();
      return *this;
    }
    /// @copydoc operator++()
    void operator++(int) { ++*this; }
    /// True at the end.
    bool operator==(std::default_sentinel_t) const noexcept { return !gen_ || !gen_->current_; }

   private:
    friend class Generator;
    explicit iterator(Generator* g) noexcept : gen_(g) {}
    Generator* gen_ = nullptr;
  };

  /// Primes the generator: runs it to its first yield (the first element).
  iterator begin() {
    advance();
    return iterator(this);
  }
  /// The end sentinel.
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::optional<Y> step(bool sending) {
    if (!core_) return std::nullopt;
    core_->resume(sending);
    if (!core_->out) return std::nullopt;
    std::optional<Y> v = std::move(core_->out);
    core_->out.reset();
    return v;
  }
  void advance() {
    current_.reset();
    current_ = next();
  }
  void reset() noexcept {
    current_.reset();
    if (auto core = std::move(core_)) core->close_noexcept();
  }

  std::shared_ptr<detail::TypedGeneratorCore<Y, S>> core_;
  std::optional<Y> current_;  // the range-for element
};

}  // namespace gev
