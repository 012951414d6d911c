/// @file
/// `gev::local<T>`: one value per greenlet (gevent.local).
///
/// @code
/// gev::local<std::string> request_id;                 // or local<T>{[] { return T{...}; }}
/// gev::spawn([&] { *request_id = "abc"; handle(); });  // each greenlet sees its own string
/// @endcode
///
/// get() (or `*x`, `x->`) returns the current greenlet's own T, created on its first access
/// there: default-constructed, or made by the factory given to the constructor. The main greenlet
/// (and the hub, in callbacks) have their own values too. A generator body sees the values of the
/// greenlet it is running for (as in gevent, where it runs on its caller's greenlet).
///
/// Lifetime: a greenlet's values are destroyed when it finishes (in the hub, as its stack is
/// recycled: a T's destructor must not block); the main greenlet's at thread exit; and all values
/// of a local when the local itself is destroyed. reset() drops the current greenlet's value.
///
/// Cost: get() is a thread-local load and a scan of the few locals the greenlet has touched;
/// creating a value allocates once. The hub's switch path is untouched.
///
/// Threads: a local may be used by greenlets of several hubs (threads); each sees its own
/// values. Destroying a local must not race with its use (or its greenlets finishing) in other
/// threads.
#pragma once

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "gev/hub/fiber.hpp"
#include "gev/hub/hub.hpp"

namespace gev {

/// @cond INTERNAL
namespace detail {

class LocalBase;
class LocalStorage;

// One value of one local in one fiber. Linked into its local's list (for ~local).
struct LocalEntry : ListNode {
  LocalBase* owner = nullptr;
  LocalStorage* storage = nullptr;
  virtual ~LocalEntry() = default;
};

template <class T>
struct TypedLocalEntry final : LocalEntry {
  template <class Make>
  explicit TypedLocalEntry(Make& make) : value(make()) {}
  T value;
};

// A fiber's table of local values: a few (local, entry) pairs, scanned linearly. Freed, with
// its values, when the fiber dies (a death hook) or, for main and the hub, when the hub goes.
class LocalStorage final : public FiberDeathHook {
 public:
  explicit LocalStorage(Fiber& fiber) noexcept : fiber_(fiber) {}

  LocalEntry* find(const LocalBase* owner) const noexcept {
    for (const auto& [key, entry] : entries_) {
      if (key == owner) return entry;
    }
    return nullptr;
  }
  void add(LocalEntry* e) { entries_.emplace_back(e->owner, e); }
  void remove(const LocalEntry* e) noexcept;
  void fiber_died() noexcept override;

 private:
  Fiber& fiber_;
  std::vector<std::pair<const LocalBase*, LocalEntry*>> entries_;
};

// The fiber whose values the running code sees: the current fiber, or the greenlet a running
// generator acts for.
inline Fiber& local_owner_fiber() {
  Fiber* f = &Hub::current().current_fiber();
  while (Fiber* caller = f->acting_for()) f = caller;
  return *f;
}

class LocalBase {
 public:
  LocalBase(const LocalBase&) = delete;
  LocalBase& operator=(const LocalBase&) = delete;

 protected:
  LocalBase() = default;
  ~LocalBase() { destroy_all(); }

  // The current greenlet's entry, or nullptr.
  LocalEntry* find_current() const {
    const auto* storage = static_cast<const LocalStorage*>(local_owner_fiber().local_storage());
    return storage ? storage->find(this) : nullptr;
  }
  // Registers a new entry (made by the typed local) for the current greenlet.
  void install(LocalEntry* e);
  // Destroys the current greenlet's entry, if any.
  void remove_current() noexcept;
  // Destroys every entry (the local is going away).
  void destroy_all() noexcept;

 private:
  friend class LocalStorage;
  void unlink(LocalEntry* e) noexcept;

  std::mutex mutex_;  // guards entries_ (entries may be made and freed by several hubs)
  IntrusiveList entries_;
};

}  // namespace detail
/// @endcond

/// One value of type T per greenlet (gevent.local); see local.hpp.
///
/// @tparam T the value type: default-constructible, unless a factory is given.
template <class T>
class local : private detail::LocalBase {
 public:
  using value_type = T;  ///< The type of the values.

  /// Values are default-constructed.
  local() = default;
  /// Values are made by factory() (called in the greenlet, on its first access).
  explicit local(std::function<T()> factory) : factory_(std::move(factory)) {}
  /// Destroys every value of this local, in all greenlets.
  ~local() = default;  // LocalBase destroys every value

  /// The current greenlet's value, created on first access.
  T& get() {
    if (detail::LocalEntry* e = find_current()) [[likely]]
      return static_cast<detail::TypedLocalEntry<T>*>(e)->value;
    return create();
  }
  /// get().
  T& operator*() { return get(); }
  /// &get().
  T* operator->() { return &get(); }

  /// Whether the current greenlet already has its value (without creating it).
  bool has_value() const { return find_current() != nullptr; }
  /// Destroys the current greenlet's value; the next get() makes a new one.
  void reset() noexcept { remove_current(); }

 private:
  T& create() {
    detail::TypedLocalEntry<T>* e;
    if (factory_) {
      e = new detail::TypedLocalEntry<T>(factory_);
    } else {
      auto make = [] { return T(); };
      e = new detail::TypedLocalEntry<T>(make);
    }
    install(e);
    return e->value;
  }

  std::function<T()> factory_;
};

}  // namespace gev
