#include "gev/monkey/detail/fd_wait.hpp"

#include <ev.h>

#include <atomic>
#include <memory>
#include <vector>

#include "gev/hub/park_timer.hpp"

namespace gev::monkey::detail {

std::atomic<bool> g_patched{false};

Hub* cooperative_hub() noexcept {
  if (!g_patched.load(std::memory_order_relaxed)) [[likely]]
    return nullptr;
  Hub* hub = Hub::current_if_exists();
  if (hub == nullptr || hub->in_hub()) return nullptr;
  return hub;
}

namespace {

struct Node {
  ev_io io;
  Hub* hub = nullptr;
  gev::detail::Fiber* fiber = nullptr;
  bool* closed = nullptr;  // shared by the nodes of one wait
  int* fired_any = nullptr;
  FdWatch* watch = nullptr;
  Node* prev = nullptr;
  Node* next = nullptr;
  bool linked = false;
};

// Per thread: the waits parked on each descriptor. Grows to the highest descriptor waited on
// (an allocation only when a new high is reached, never in steady state).
struct Registry {
  std::vector<Node*> heads;

  void link(Node& n) {
    const auto fd = static_cast<std::size_t>(n.watch->fd);
    if (fd >= heads.size()) heads.resize(std::max(fd + 1, heads.size() * 2), nullptr);
    n.next = heads[fd];
    n.prev = nullptr;
    if (n.next) n.next->prev = &n;
    heads[fd] = &n;
    n.linked = true;
  }
  void unlink(Node& n) noexcept {
    if (!n.linked) return;
    if (n.prev) {
      n.prev->next = n.next;
    } else {
      heads[static_cast<std::size_t>(n.watch->fd)] = n.next;
    }
    if (n.next) n.next->prev = n.prev;
    n.linked = false;
  }
};

[[gnu::tls_model("initial-exec")]] thread_local Registry* tl_registry = nullptr;

// Owns the thread's registry. At thread exit it may go before the hub does (the hub's own
// teardown can still unwind parked hooks): tl_registry is cleared first, and waits ending after
// that only stop their watchers.
struct RegistryOwner {
  Registry registry;
  ~RegistryOwner() { tl_registry = nullptr; }
};

Registry& registry() {
  if (tl_registry == nullptr) {
    thread_local RegistryOwner owner;
    tl_registry = &owner.registry;
  }
  return *tl_registry;
}

void on_io(struct ev_loop*, ev_io* w, int revents) noexcept {
  auto* n = static_cast<Node*>(w->data);
  n->watch->fired |= revents & (EV_READ | EV_WRITE);
  ++*n->fired_any;
  n->hub->unpark(*n->fiber);
}

// Stops and unlinks the nodes of one wait however it ends (ready, timeout, interrupt).
struct Cleanup {
  Hub& hub;
  Node* nodes;
  std::size_t count;
  ~Cleanup() {
    Registry* reg = tl_registry;
    for (std::size_t i = 0; i < count; ++i) {
      ev_io_stop(hub.loop(), &nodes[i].io);
      if (reg) reg->unlink(nodes[i]);
    }
  }
};

}  // namespace

WaitResult wait_fds(Hub& hub, FdWatch* watches, std::size_t count, const Deadline& deadline) {
  constexpr std::size_t kInline = 8;
  Node inline_nodes[kInline];
  std::unique_ptr<Node[]> heap_nodes;
  Node* nodes = inline_nodes;
  if (count > kInline) {
    heap_nodes = std::make_unique<Node[]>(count);  // poll() on many descriptors: rare
    nodes = heap_nodes.get();
  }
  Registry& reg = registry();
  gev::detail::Fiber& self = hub.current_fiber();
  bool closed = false;
  int fired_any = 0;
  std::size_t started = 0;
  Cleanup cleanup{hub, nodes, 0};
  for (std::size_t i = 0; i < count; ++i) {
    FdWatch& w = watches[i];
    w.fired = 0;
    if (w.fd < 0 || (w.events & (EV_READ | EV_WRITE)) == 0) continue;
    Node& n = nodes[started];
    n.hub = &hub;
    n.fiber = &self;
    n.closed = &closed;
    n.fired_any = &fired_any;
    n.watch = &w;
    ev_io_init(&n.io, &on_io, w.fd, w.events & (EV_READ | EV_WRITE));
    n.io.data = &n;
    reg.link(n);
    cleanup.count = ++started;
    ev_io_start(hub.loop(), &n.io);
  }
  std::optional<Duration> timeout;
  if (deadline) timeout = std::max(Duration::zero(), Duration(*deadline - Clock::now()));
  ParkTimer timer(hub, self, timeout);
  while (fired_any == 0 && !closed) {
    if (timer.expired()) return WaitResult::timed_out;
    hub.park("monkey: waiting for a descriptor");
  }
  return closed ? WaitResult::closed : WaitResult::ready;
}

void descriptor_closing(int fd) noexcept {
  Registry* reg = tl_registry;
  if (reg == nullptr || fd < 0 || static_cast<std::size_t>(fd) >= reg->heads.size()) return;
  while (Node* n = reg->heads[static_cast<std::size_t>(fd)]) {
    ev_io_stop(n->hub->loop(), &n->io);
    reg->unlink(*n);
    *n->closed = true;
    n->hub->unpark(*n->fiber);
  }
}

}  // namespace gev::monkey::detail
