#include "gev/runtime/local.hpp"

#include <memory>

namespace gev::detail {

void LocalStorage::remove(const LocalEntry* e) noexcept {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->second == e) {
      *it = entries_.back();
      entries_.pop_back();
      return;
    }
  }
}

void LocalStorage::fiber_died() noexcept {
  // Detach first: a value's destructor that touches a local gets a fresh table (for main and
  // the hub it is freed by this same round of death hooks).
  fiber_.set_local_storage(nullptr);
  while (!entries_.empty()) {
    LocalEntry* e = entries_.back().second;
    entries_.pop_back();
    e->owner->unlink(e);
    delete e;
  }
  delete this;
}

void LocalBase::install(LocalEntry* e) {
  std::unique_ptr<LocalEntry> owned(e);
  Fiber& fiber = local_owner_fiber();
  auto* storage = static_cast<LocalStorage*>(fiber.local_storage());
  if (storage == nullptr) {
    storage = new LocalStorage(fiber);
    fiber.set_local_storage(storage);
    fiber.add_death_hook(*storage);
  }
  e->owner = this;
  e->storage = storage;
  storage->add(e);
  {
    std::lock_guard lock(mutex_);
    entries_.push_back(*e);
  }
  owned.release();
}

void LocalBase::unlink(LocalEntry* e) noexcept {
  std::lock_guard lock(mutex_);
  if (e->linked()) IntrusiveList::erase(*e);
}

void LocalBase::remove_current() noexcept {
  Hub* hub = Hub::current_if_exists();
  if (hub == nullptr) return;
  Fiber* f = &hub->current_fiber();
  while (Fiber* caller = f->acting_for()) f = caller;
  auto* storage = static_cast<LocalStorage*>(f->local_storage());
  if (storage == nullptr) return;
  LocalEntry* e = storage->find(this);
  if (e == nullptr) return;
  storage->remove(e);
  unlink(e);
  delete e;
}

void LocalBase::destroy_all() noexcept {
  for (;;) {
    LocalEntry* e;
    {
      std::lock_guard lock(mutex_);
      e = static_cast<LocalEntry*>(entries_.pop_front());
    }
    if (e == nullptr) return;
    e->storage->remove(e);
    delete e;  // outside the lock: a destructor may touch this local's other values
  }
}

}  // namespace gev::detail
