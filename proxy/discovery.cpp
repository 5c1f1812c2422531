#include "proxy/discovery.h"

#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "proxy/log.h"

namespace ringway::discovery {

std::optional<sockaddr_storage> numeric_address(const conf::Endpoint& endpoint, std::string& error) {
  sockaddr_storage address{};
  if (uv_ip4_addr(endpoint.host.c_str(), endpoint.port, reinterpret_cast<sockaddr_in*>(&address)) == 0 ||
      uv_ip6_addr(endpoint.host.c_str(), endpoint.port, reinterpret_cast<sockaddr_in6*>(&address)) == 0) {
    return address;
  }
  error = "not a numeric address: \"" + endpoint.host + "\"";
  return std::nullopt;
}

namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

// Every IP address of a getaddrinfo answer, sorted and without duplicates.
std::vector<std::string> ips_of(const addrinfo* result) {
  std::vector<std::string> ips;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ai->ai_family == AF_INET) {
      uv_ip4_name(reinterpret_cast<const sockaddr_in*>(ai->ai_addr), buf, sizeof buf);
    } else if (ai->ai_family == AF_INET6) {
      uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(ai->ai_addr), buf, sizeof buf);
    } else {
      continue;
    }
    ips.emplace_back(buf);
  }
  return conf::sort_addresses(std::move(ips));
}

}  // namespace

struct Resolver::Name {
  Resolver* owner = nullptr;
  std::string host;
  conf::Duration interval{5000};
  uint64_t serial = 0;               // tells a name forgotten and named again from the old one
  std::string entries;               // "pool/entry,...", for logs
  uv_timer_t timer{};                // the next lookup
  struct Lookup* lookup = nullptr;   // in flight
  uint32_t failures = 0;             // consecutive failed lookups
};

struct Resolver::Lookup {
  uv_getaddrinfo_t req{};
  Resolver* owner = nullptr;
  std::string host;
  uint64_t serial = 0;
};

Resolver::Resolver(uv_loop_t* loop, OnChange on_change) : loop_(loop), on_change_(std::move(on_change)) {}

Resolver::~Resolver() = default;  // stop() closed every handle; the loop ran until they were gone

void Resolver::configure(const conf::Config& config) {
  if (stopped_) return;
  if (change_timer_.loop == nullptr) {
    uv_timer_init(loop_, &change_timer_);
    change_timer_.data = this;
  }
  const std::vector<conf::DiscoveryName> wanted = conf::discovery_names(config);
  // Forget the names no longer used (their lookups in flight are dropped when they answer).
  for (auto it = names_.begin(); it != names_.end();) {
    const bool used = std::any_of(wanted.begin(), wanted.end(), [&](const auto& w) { return w.host == it->first; });
    if (used) {
      ++it;
      continue;
    }
    log::info("discovery: name no longer used", {{"name", it->first}});
    addresses_.erase(it->first);
    uv_close(reinterpret_cast<uv_handle_t*>(&it->second->timer),
             [](uv_handle_t* h) { delete static_cast<Name*>(h->data); });
    it = names_.erase(it);
  }
  for (const conf::DiscoveryName& w : wanted) {
    const auto it = names_.find(w.host);
    if (it != names_.end()) {
      Name& name = *it->second;
      name.entries = joined(w.entries);
      if (name.interval != w.interval) {
        name.interval = w.interval;
        if (name.lookup == nullptr) {
          uv_timer_start(&name.timer, [](uv_timer_t* t) { auto* n = static_cast<Name*>(t->data); n->owner->resolve(*n); },
                         static_cast<uint64_t>(name.interval.count()), 0);
        }
      }
      continue;
    }
    auto* name = new Name;
    name->owner = this;
    name->host = w.host;
    name->interval = w.interval;
    name->serial = next_serial_++;
    name->entries = joined(w.entries);
    uv_timer_init(loop_, &name->timer);
    name->timer.data = name;
    names_.emplace(w.host, name);
    log::info("discovery: resolving; its entries have no backends until it answers",
              {{"name", w.host}, {"entries", name->entries},
               {"interval_ms", std::to_string(w.interval.count())}});
    resolve(*name);
  }
}

void Resolver::resolve(Name& name) {
  auto* lookup = new Lookup;
  lookup->req.data = lookup;
  lookup->owner = this;
  lookup->host = name.host;
  lookup->serial = name.serial;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = uv_getaddrinfo(
      loop_, &lookup->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* result) {
        auto* l = static_cast<Lookup*>(req->data);
        l->owner->answered(*l, status, result);
        uv_freeaddrinfo(result);
        delete l;
      },
      name.host.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete lookup;
    log::warn("discovery: cannot start a lookup", {{"name", name.host}, {"error", uv_strerror(rc)}});
    uv_timer_start(&name.timer, [](uv_timer_t* t) { auto* n = static_cast<Name*>(t->data); n->owner->resolve(*n); },
                   static_cast<uint64_t>(name.interval.count()), 0);
    return;
  }
  name.lookup = lookup;
}

void Resolver::answered(Lookup& lookup, int status, addrinfo* result) {
  if (stopped_) return;
  const auto it = names_.find(lookup.host);
  if (it == names_.end() || it->second->serial != lookup.serial) return;  // forgotten meanwhile
  Name& name = *it->second;
  name.lookup = nullptr;
  uv_timer_start(&name.timer, [](uv_timer_t* t) { auto* n = static_cast<Name*>(t->data); n->owner->resolve(*n); },
                 static_cast<uint64_t>(name.interval.count()), 0);

  std::vector<std::string> ips = status == 0 ? ips_of(result) : std::vector<std::string>{};
  const auto known = addresses_.find(name.host);
  if (ips.empty()) {
    // Keep what we had: a DNS hiccup must not empty a pool. Logged once per streak of failures.
    if (name.failures++ == 0) {
      const std::string why = status == 0 ? "no address" : uv_strerror(status);
      if (known != addresses_.end()) {
        log::warn("discovery: name does not resolve; keeping its previous addresses",
                  {{"name", name.host}, {"error", why}, {"addresses", joined(known->second)}});
      } else {
        log::warn("discovery: name does not resolve; its entries have no backends yet",
                  {{"name", name.host}, {"error", why}, {"entries", name.entries}});
      }
    }
    if (change_pending_) schedule_change();
    return;
  }
  if (name.failures > 0) {
    log::info("discovery: name resolves again",
              {{"name", name.host}, {"failed_lookups", std::to_string(name.failures)}});
    name.failures = 0;
  }
  if (known != addresses_.end() && known->second == ips) {
    if (change_pending_) schedule_change();
    return;
  }
  log::info("discovery: addresses changed",
            {{"name", name.host},
             {"addresses", joined(ips)},
             {"previous", known != addresses_.end() ? joined(known->second) : std::string("none")}});
  addresses_[name.host] = std::move(ips);
  change_pending_ = true;
  schedule_change();
}

void Resolver::schedule_change() {
  if (stopped_ || uv_is_active(reinterpret_cast<uv_handle_t*>(&change_timer_))) return;
  uv_timer_start(&change_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Resolver*>(t->data);
    if (self->stopped_ || !self->change_pending_) return;
    self->change_pending_ = !self->on_change_();
  }, 0, 0);
}

void Resolver::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [host, name] : names_) {
    if (name->lookup != nullptr) uv_cancel(reinterpret_cast<uv_req_t*>(&name->lookup->req));
    uv_close(reinterpret_cast<uv_handle_t*>(&name->timer), [](uv_handle_t* h) { delete static_cast<Name*>(h->data); });
  }
  names_.clear();
  if (change_timer_.loop != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&change_timer_), nullptr);
}

}  // namespace ringway::discovery
