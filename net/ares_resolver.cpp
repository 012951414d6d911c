// The c-ares resolver: one channel per hub, driven by the hub's libev loop.
//
// c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB): each gets an ev_io on
// the hub's loop, and one ev_timer follows ares_timeout(). Both call ares_process_fd(), which
// runs the ares_getaddrinfo callbacks in the hub. The watchers are unreferenced: what keeps the
// loop alive is the KeepAlive each waiting resolve() holds, so an abandoned lookup (its greenlet
// was killed or timed out) neither keeps gev::wait() waiting nor wakes anybody.
//
// Lifetimes. A Request lives on the heap with two references: the waiting resolve() and c-ares
// (until its callback ran). Whichever lets go last frees it, so a callback arriving after its
// greenlet left never touches that greenlet's stack. Channels are owned by the hub's
// HubResolver: when the options change, the current channel is retired and destroyed once its
// last lookup ended (never from inside a c-ares call). The HubResolver hangs on the hub's main
// fiber as a death hook, which ~Hub runs after unwinding the greenlets and destroying the loop:
// it destroys the channels (pending lookups end with ARES_EDESTRUCTION, freeing their Requests)
// without touching the loop.
//
// fork(). The child inherits the forking thread's channels, their sockets (shared with the
// parent) and, once the hub re-arms its loop (ev_loop_fork), their watchers: left alone, the
// child could read (and the parent lose) replies to the parent's queries. A pthread_atfork child
// handler therefore drops the forking thread's channels at once: ares_destroy closes the child's
// copies of the sockets (no packet is sent; the parent's sockets stay open) and ends inherited
// lookups with ARES_EDESTRUCTION, the watchers and timer are stopped before the loop runs
// again, and the next lookup creates a fresh channel. (The pid check in HubResolver::channel()
// covers a child made without the atfork handlers.)
#include "gev/net/detail/ares_resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "gev/hub/hub.hpp"
#include "gev/net/resolver.hpp"

namespace gev::net {
namespace {

// ---- process-wide settings -------------------------------------------------------------------

std::mutex g_options_mutex;
AresOptions g_options;                            // guarded by g_options_mutex
std::uint64_t g_generation = 1;                   // guarded; bumped by every set_ares_options()
std::atomic<std::uint64_t> g_generation_hint{1};  // the same, for a lock-free check per lookup

void library_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    const int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
      throw gaierror(EAI_FAIL, std::string("gev::net: ares_library_init: ") + ares_strerror(rc));
    }
  });
}

int eai_from_ares(int status) noexcept {
  switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
    case ARES_EBADNAME:
      return EAI_NONAME;
    case ARES_ENODATA:
#ifdef EAI_NODATA
      return EAI_NODATA;
#else
      return EAI_NONAME;
#endif
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_EDESTRUCTION:
      return EAI_AGAIN;
    case ARES_ECANCELLED:
#ifdef EAI_CANCELED
      return EAI_CANCELED;
#else
      return EAI_AGAIN;
#endif
    case ARES_ENOMEM:
      return EAI_MEMORY;
    case ARES_EBADFAMILY:
      return EAI_FAMILY;
    case ARES_EBADFLAGS:
    case ARES_EBADHINTS:
      return EAI_BADFLAGS;
    case ARES_ESERVICE:
      return EAI_SERVICE;
    default:  // EFORMERR, ENOTIMP, EBADRESP, EBADQUERY, EOF, EFILE, ...
      return EAI_FAIL;
  }
}

// ---- localhost names ---------------------------------------------------------------------------
//
// RFC 6761: "localhost" and names under ".localhost" are never sent to a server; c-ares answers
// them from /etc/hosts, else with the loopback address. Its fallback leaks the name (1.18 sets
// ai->name twice), so the fallback case is answered here instead, the same way.

// c-ares's own test (case-sensitive, no trailing dot).
bool is_localhost_name(std::string_view host) noexcept {
  return host == "localhost" || (host.size() >= 10 && host.ends_with(".localhost"));
}

// Whether /etc/hosts gives `host` an address of `family` (AF_UNSPEC: of either), as c-ares
// matches it (names compared case-insensitively).
bool etc_hosts_has(const std::string& host, int family) {
  std::ifstream in("/etc/hosts");
  std::string line;
  while (std::getline(in, line)) {
    line.erase(std::min(line.find('#'), line.size()));
    std::istringstream fields(line);
    std::string address;
    if (!(fields >> address)) continue;
    unsigned char buf[sizeof(in6_addr)];
    const bool v4 = ::inet_pton(AF_INET, address.c_str(), buf) == 1;
    const bool v6 = !v4 && ::inet_pton(AF_INET6, address.c_str(), buf) == 1;
    if (!(family == AF_UNSPEC ? v4 || v6 : family == AF_INET ? v4 : v6)) continue;
    std::string name;
    while (fields >> name) {
      if (::strcasecmp(name.c_str(), host.c_str()) == 0) return true;
    }
  }
  return false;
}

// The loopback addresses c-ares would give (::1 first, as RFC 6724 sorts them).
std::vector<Address> loopback(std::uint16_t port, int family) {
  std::vector<Address> out;
  if (family != AF_INET) out.emplace_back("::1", port);
  if (family != AF_INET6) out.emplace_back("127.0.0.1", port);
  return out;
}

class HubResolver;
class Channel;

// One socket c-ares asked us to watch.
struct Watch {
  ev_io io;
  Channel* channel;
};

// One ares_getaddrinfo in flight. See the lifetime note at the top.
struct Request {
  int refs = 2;                          // the waiting resolve() + c-ares
  Channel* channel = nullptr;            // valid until the callback ran
  gev::detail::Fiber* waiter = nullptr;  // null once resolve() left
  std::uint16_t port = 0;
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<Address> addresses;

  void release() noexcept {
    if (--refs == 0) delete this;
  }
};

class Channel {
 public:
  Channel(HubResolver& owner, const AresOptions& options, std::uint64_t generation);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  // Lookups still pending end with ARES_EDESTRUCTION (their callbacks run now).
  ~Channel();

  // Starts a lookup for `request`; its callback may run before this returns.
  void submit(const std::string& host, int family, int type, Request& request);
  // After anything that may have changed c-ares's deadlines: re-arm the timer.
  void update_timer() noexcept;

  std::uint64_t generation() const noexcept { return generation_; }
  bool hosts_file() const noexcept { return hosts_file_; }
  int pending() const noexcept { return pending_; }
  // What servers a timeout message should name.
  const std::string& servers_text() const noexcept { return servers_text_; }

 private:
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept;
  static void on_io(struct ev_loop*, ev_io* w, int revents) noexcept;
  static void on_timer(struct ev_loop*, ev_timer* w, int) noexcept;
  static void on_addrinfo(void* arg, int status, int timeouts, ares_addrinfo* result) noexcept;
  // After ares_process_fd: re-arm the timer, then let the owner destroy retired channels (this
  // one included: the last thing done with it).
  void after_processing() noexcept;
  void start_watch(Watch& w) noexcept;
  void stop_watch(Watch& w) noexcept;
  struct ev_loop* loop() const noexcept;
  bool loop_gone() const noexcept;

  HubResolver& owner_;
  std::uint64_t generation_;
  bool hosts_file_;
  std::string servers_text_;
  ares_channel handle_ = nullptr;
  int pending_ = 0;  // lookups submitted whose callback has not run yet
  std::vector<std::unique_ptr<Watch>> watches_;
  ev_timer timer_;
  bool timer_active_ = false;
};

// The c-ares state of one hub: its current channel and the retired ones still draining.
class HubResolver final : public gev::detail::FiberDeathHook {
 public:
  // The calling thread's, created on first use and attached to `hub`'s main fiber.
  static HubResolver& of(Hub& hub);

  // The channel for a new lookup: the current one, or a fresh one if there is none yet, the
  // options changed, or the process forked since. `host` is for error messages.
  Channel& channel(const std::string& host);
  // Destroys the retired channels whose last lookup ended. Never call it inside c-ares.
  void reap() noexcept;

  Hub& hub() noexcept { return hub_; }
  // True once ~Hub destroyed the loop (the channels are being destroyed without it).
  bool loop_gone() const noexcept { return loop_gone_; }

  void fiber_died() noexcept override;  // ~Hub: the main fiber "dies" with the hub

  // In a forked child (pthread_atfork): drops the inherited channels at once. See the note at
  // atfork_child().
  void forked() noexcept;

 private:
  explicit HubResolver(Hub& hub) : hub_(hub), pid_(::getpid()) {}
  ~HubResolver() = default;
  void retire_current() noexcept;

  Hub& hub_;
  pid_t pid_;
  bool loop_gone_ = false;
  std::unique_ptr<Channel> current_;
  std::vector<std::unique_ptr<Channel>> retired_;
};

// The HubResolver of this thread's hub, cleared by its death hook. A plain pointer: no
// thread_local destructor to order against the hub's.
thread_local HubResolver* tl_resolver = nullptr;

// ---- Channel ---------------------------------------------------------------------------------

Channel::Channel(HubResolver& owner, const AresOptions& options, std::uint64_t generation)
    : owner_(owner), generation_(generation), hosts_file_(options.hosts_file) {
  struct ares_options opts {};
  int mask = ARES_OPT_SOCK_STATE_CB;
  opts.sock_state_cb = &Channel::on_sock_state;
  opts.sock_state_cb_data = this;
  if (options.timeout.count() > 0) {
    opts.timeout = static_cast<int>(std::min<long long>(options.timeout.count(), 1LL << 30));
    mask |= ARES_OPT_TIMEOUTMS;
  }
  if (options.tries > 0) {
    opts.tries = options.tries;
    mask |= ARES_OPT_TRIES;
  }
  char files_then_dns[] = "fb";
  char dns_only[] = "b";
  opts.lookups = options.hosts_file ? files_then_dns : dns_only;
  mask |= ARES_OPT_LOOKUPS;
  int rc = ares_init_options(&handle_, &opts, mask);
  if (rc != ARES_SUCCESS) {
    handle_ = nullptr;
    throw gaierror(eai_from_ares(rc),
                   std::string("c-ares channel setup (ares_init_options): ") + ares_strerror(rc));
  }
  if (!options.servers.empty()) {
    rc = ares_set_servers_ports_csv(handle_, options.servers.c_str());
    if (rc != ARES_SUCCESS) {
      ares_destroy(handle_);
      handle_ = nullptr;
      throw gaierror(eai_from_ares(rc),
                     "c-ares servers \"" + options.servers + "\": " + ares_strerror(rc));
    }
    servers_text_ = options.servers;
  } else {
    servers_text_ = "those of /etc/resolv.conf";
  }
  ev_timer_init(&timer_, &Channel::on_timer, 0.0, 0.0);
  timer_.data = this;
}

Channel::~Channel() {
  if (handle_) ares_destroy(handle_);  // runs pending callbacks, closes sockets (on_sock_state)
  if (timer_active_ && !loop_gone()) {
    ev_ref(loop());
    ev_timer_stop(loop(), &timer_);
  }
  // on_sock_state stopped every watcher; any left (c-ares always reports closes) are stopped.
  for (auto& w : watches_) stop_watch(*w);
}

struct ev_loop* Channel::loop() const noexcept {
  return owner_.hub().loop();
}
bool Channel::loop_gone() const noexcept {
  return owner_.loop_gone();
}

void Channel::start_watch(Watch& w) noexcept {
  if (loop_gone()) return;
  ev_io_start(loop(), &w.io);
  ev_unref(loop());  // see the note at the top: only waiting lookups keep the loop alive
}

void Channel::stop_watch(Watch& w) noexcept {
  if (loop_gone() || !ev_is_active(&w.io)) return;
  ev_ref(loop());
  ev_io_stop(loop(), &w.io);
}

void Channel::on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept {
  auto* self = static_cast<Channel*>(data);
  auto it = std::find_if(self->watches_.begin(), self->watches_.end(),
                         [fd](const auto& w) { return w->io.fd == fd; });
  if (!readable && !writable) {  // c-ares is about to close fd
    if (it != self->watches_.end()) {
      self->stop_watch(**it);
      self->watches_.erase(it);
    }
    return;
  }
  const int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
  if (it == self->watches_.end()) {
    try {
      self->watches_.push_back(std::make_unique<Watch>());
    } catch (...) {
      // Out of memory: this socket goes unwatched; the timer still ends its lookups.
      return;
    }
    Watch& w = *self->watches_.back();
    w.channel = self;
    ev_io_init(&w.io, &Channel::on_io, fd, events);
    w.io.data = &w;
    self->start_watch(w);
    return;
  }
  Watch& w = **it;
  if ((w.io.events & (EV_READ | EV_WRITE)) == events && ev_is_active(&w.io)) return;
  self->stop_watch(w);
  ev_io_set(&w.io, fd, events);
  self->start_watch(w);
}

void Channel::on_io(struct ev_loop*, ev_io* w, int revents) noexcept {
  auto* watch = static_cast<Watch*>(w->data);
  Channel* self = watch->channel;
  const int fd = w->fd;
  // May close fd and free `watch` (on_sock_state): neither is touched after this.
  ares_process_fd(self->handle_, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                  (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
  self->after_processing();
}

void Channel::on_timer(struct ev_loop* loop, ev_timer* w, int) noexcept {
  auto* self = static_cast<Channel*>(w->data);
  // One-shot: libev stopped it, giving back a reference we had taken away; rebalance.
  ev_ref(loop);
  self->timer_active_ = false;
  ares_process_fd(self->handle_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // expire what is due
  self->after_processing();
}

void Channel::after_processing() noexcept {
  HubResolver& owner = owner_;
  update_timer();
  owner.reap();  // may destroy this channel
}

void Channel::update_timer() noexcept {
  if (loop_gone()) return;
  if (timer_active_) {
    ev_ref(loop());
    ev_timer_stop(loop(), &timer_);
    timer_active_ = false;
  }
  timeval buf;
  const timeval* next = ares_timeout(handle_, nullptr, &buf);
  if (next == nullptr) return;  // no lookup in flight
  // ares_timeout rounds down to the millisecond: add one so the timer never fires just before
  // the deadline (which would only re-arm it).
  const double after = static_cast<double>(next->tv_sec) + next->tv_usec * 1e-6 + 0.001;
  ev_now_update(loop());  // the loop's clock is cached per turn; greenlets may have run long
  ev_timer_set(&timer_, after, 0.0);
  ev_timer_start(loop(), &timer_);
  ev_unref(loop());
  timer_active_ = true;
}

void Channel::submit(const std::string& host, int family, int type, Request& request) {
  ares_addrinfo_hints hints{};
  hints.ai_family = family;
  hints.ai_socktype = type;
  request.channel = this;
  ++pending_;
  // No service: the port is set on each address (c-ares would only parse it back).
  ares_getaddrinfo(handle_, host.c_str(), nullptr, &hints, &Channel::on_addrinfo, &request);
  update_timer();
}

void Channel::on_addrinfo(void* arg, int status, int, ares_addrinfo* result) noexcept {
  auto* request = static_cast<Request*>(arg);
  std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> owner(result, &ares_freeaddrinfo);
  Channel& self = *request->channel;
  --self.pending_;
  request->channel = nullptr;
  request->done = true;
  request->status = status;
  if (request->waiter != nullptr) {  // somebody still waits for the answer
    if (status == ARES_SUCCESS && result != nullptr) {
      try {
        for (ares_addrinfo_node* n = result->nodes; n; n = n->ai_next) {
          if (n->ai_family != AF_INET && n->ai_family != AF_INET6) continue;
          Address a = Address::from_sockaddr(n->ai_addr, n->ai_addrlen);
          if (a.family() == AF_INET) {
            reinterpret_cast<sockaddr_in*>(a.sockaddr_ptr())->sin_port = htons(request->port);
          } else {
            reinterpret_cast<sockaddr_in6*>(a.sockaddr_ptr())->sin6_port = htons(request->port);
          }
          if (std::find(request->addresses.begin(), request->addresses.end(), a) ==
              request->addresses.end()) {
            request->addresses.push_back(a);
          }
        }
      } catch (...) {
        request->status = ARES_ENOMEM;
        request->addresses.clear();
      }
    }
    // At hub teardown (loop gone) a waiter still here was abandoned with its thread: leave it.
    if (!self.loop_gone()) self.owner_.hub().unpark(*request->waiter);
  }
  request->release();
}

// ---- HubResolver -----------------------------------------------------------------------------

// The forking thread's channels only: other threads do not exist in the child, and their hubs
// never run there.
void atfork_child() noexcept {
  if (tl_resolver != nullptr) tl_resolver->forked();
}

void HubResolver::forked() noexcept {
  pid_ = ::getpid();
  if (loop_gone_) return;
  // ~Channel: ares_destroy (closing the child's socket copies, ending inherited lookups with
  // ARES_EDESTRUCTION: their greenlets wake with EAI_AGAIN), then its watchers and timer stop.
  retired_.clear();
  current_.reset();
}

HubResolver& HubResolver::of(Hub& hub) {
  if (tl_resolver != nullptr && &tl_resolver->hub_ == &hub) return *tl_resolver;
  static std::once_flag atfork_once;
  std::call_once(atfork_once, [] { ::pthread_atfork(nullptr, nullptr, &atfork_child); });
  auto* r = new HubResolver(hub);
  hub.main_fiber().add_death_hook(*r);
  tl_resolver = r;
  return *r;
}

void HubResolver::retire_current() noexcept {
  if (!current_) return;
  if (current_->pending() == 0) {
    current_.reset();
    return;
  }
  try {
    retired_.push_back(std::move(current_));
  } catch (...) {
    current_.reset();  // out of memory: its lookups end now, with ARES_EDESTRUCTION
  }
}

Channel& HubResolver::channel(const std::string& host) {
  if (pid_ != ::getpid()) {
    // A forked child: the channels' sockets are shared with the parent. Start afresh (lookups
    // the child inherited end with ARES_EDESTRUCTION).
    retired_.clear();
    current_.reset();
    pid_ = ::getpid();
  }
  if (current_ && current_->generation() != g_generation_hint.load(std::memory_order_acquire)) {
    retire_current();
  }
  reap();
  if (!current_) {
    library_init();
    AresOptions options;
    std::uint64_t generation;
    {
      std::lock_guard lock(g_options_mutex);
      options = g_options;
      generation = g_generation;
    }
    try {
      current_ = std::make_unique<Channel>(*this, options, generation);
    } catch (const gaierror& e) {
      throw gaierror(e.code(), "gev::net::resolve(" + host + "): " + e.what());
    }
  }
  return *current_;
}

void HubResolver::reap() noexcept {
  std::erase_if(retired_, [](const std::unique_ptr<Channel>& c) { return c->pending() == 0; });
}

void HubResolver::fiber_died() noexcept {
  loop_gone_ = true;  // ~Hub destroyed the loop before running the death hooks
  retired_.clear();
  current_.reset();
  if (tl_resolver == this) tl_resolver = nullptr;
  delete this;
}

// Rejects what set_ares_options() must not store. A throwaway channel checks the server list:
// c-ares parses it exactly as it will later.
void validate(const AresOptions& options) {
  if (options.timeout.count() < 0) {
    throw std::invalid_argument("gev::net::set_ares_options: negative timeout");
  }
  if (options.tries < 0) {
    throw std::invalid_argument("gev::net::set_ares_options: negative tries");
  }
  if (options.servers.empty()) return;
  library_init();
  ares_channel probe = nullptr;
  struct ares_options opts {};
  int rc = ares_init_options(&probe, &opts, 0);
  if (rc != ARES_SUCCESS) {
    throw std::invalid_argument(std::string("gev::net::set_ares_options: c-ares setup: ") +
                                ares_strerror(rc));
  }
  rc = ares_set_servers_ports_csv(probe, options.servers.c_str());
  ares_destroy(probe);
  if (rc != ARES_SUCCESS) {
    throw std::invalid_argument("gev::net::set_ares_options: bad server list \"" + options.servers +
                                "\" (" + ares_strerror(rc) +
                                "); expected \"ip[:port],[ipv6]:port,...\"");
  }
}

}  // namespace

namespace {
// Stores validated options. Caller holds g_options_mutex.
void store_options_locked(const AresOptions& options) {
  g_options = options;
  ++g_generation;
  g_generation_hint.store(g_generation, std::memory_order_release);
}
}  // namespace

void set_ares_options(const AresOptions& options) {
  validate(options);
  std::lock_guard lock(g_options_mutex);
  store_options_locked(options);
}

AresOptions ares_options() {
  std::lock_guard lock(g_options_mutex);
  return g_options;
}

void set_ares_servers(std::string_view servers) {
  // The server list is checked outside the lock (validate() builds a throwaway channel); the
  // read-modify-write of the options is one step under it, so a concurrent set_ares_options()
  // from another thread is never lost.
  AresOptions probe;
  probe.servers = std::string(servers);
  validate(probe);
  std::lock_guard lock(g_options_mutex);
  AresOptions options = g_options;
  options.servers = std::move(probe.servers);
  store_options_locked(options);
}

namespace detail {

std::vector<Address> ares_resolve(const std::string& host, std::uint16_t port, int family,
                                  int type) {
  Hub& hub = Hub::current();
  HubResolver& resolver = HubResolver::of(hub);
  Channel& channel = resolver.channel(host);
  if (is_localhost_name(host) && (family == AF_UNSPEC || family == AF_INET || family == AF_INET6) &&
      !(channel.hosts_file() && etc_hosts_has(host, family))) {
    return loopback(port, family);
  }
  auto* request = new Request;
  request->port = port;
  request->waiter = &hub.current_fiber();
  struct Leave {  // on every way out, including a Timeout or kill while parked
    Request* request;
    ~Leave() {
      request->waiter = nullptr;
      request->release();
    }
  } leave{request};
  std::string servers = channel.servers_text();  // for a message; the channel may go meanwhile
  channel.submit(host, family, type, *request);
  if (!request->done) {
    Hub::KeepAlive busy(hub);  // the watchers are unreferenced: this wait keeps the loop alive
    while (!request->done) hub.park("resolve (c-ares)");
  }
  if (request->status != ARES_SUCCESS) {
    std::string what =
        "gev::net::resolve(" + host + "): " + ares_strerror(request->status) + " (c-ares resolver";
    if (request->status == ARES_ETIMEOUT || request->status == ARES_ECONNREFUSED) {
      what += "; servers: " + servers;
    }
    throw gaierror(eai_from_ares(request->status), what + ")");
  }
  if (request->addresses.empty()) {
    throw gaierror(EAI_NONAME, "gev::net::resolve(" + host + "): no addresses (c-ares resolver)");
  }
  return std::move(request->addresses);
}

}  // namespace detail
}  // namespace gev::net
