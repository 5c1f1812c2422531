// DNS discovery, the resolver loop: every distinct DNS name of the `discover: dns` backend entries is
// resolved off the event loop (uv_getaddrinfo runs getaddrinfo on libuv's thread pool) every
// `interval` (the shortest of the entries that name it). The last good answer of each name is kept:
// a name that stops resolving (NXDOMAIN, no address, a timeout) keeps its previous addresses, so a
// DNS hiccup never empties a pool. When the addresses of any name change, `on_change` runs on the
// loop; the process then rebuilds its runtime as for a reload (proxy/process.cpp), which drains
// removed addresses and adds new ones. What the answers become is conf/discovery.h.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "conf/config.h"
#include "conf/discovery.h"

namespace ringway::discovery {

// ip:port of a discovered backend (a numeric address: never a lookup); nullopt with `error` else.
std::optional<sockaddr_storage> numeric_address(const conf::Endpoint& endpoint, std::string& error);

class Resolver {
 public:
  // Runs on the loop after answers changed the addresses (several answers arriving together run it
  // once). false: the change could not be applied; it is offered again after the next answer.
  using OnChange = std::function<bool()>;

  Resolver(uv_loop_t* loop, OnChange on_change);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Follows the names of `config` (at start and after each reload): new names are resolved at once,
  // kept names keep their answers (and take a new interval), names no longer used are forgotten.
  // Ignored after stop().
  void configure(const conf::Config& config);
  // Stops every timer (lookups in flight finish on the thread pool; their answers are dropped).
  void stop();

  // The last good answer of every name that has one.
  [[nodiscard]] const conf::DiscoveredAddresses& addresses() const { return addresses_; }

 private:
  struct Name;
  struct Lookup;

  void resolve(Name& name);
  void answered(Lookup& lookup, int status, addrinfo* result);
  void schedule_change();

  uv_loop_t* loop_;
  OnChange on_change_;
  std::map<std::string, Name*, std::less<>> names_;  // by host; freed by their timers' close callbacks
  conf::DiscoveredAddresses addresses_;
  uv_timer_t change_timer_{};  // coalesces the answers of one loop iteration into one rebuild
  bool change_pending_ = false;  // a change not applied yet (on_change returned false)
  bool stopped_ = false;
  uint64_t next_serial_ = 1;
};

}  // namespace ringway::discovery
