// Checks across sections, run on the finished Config: names are unique, binds do not collide,
// every pool named is defined and every pool defined is reachable.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <string>

#include "conf/sections.h"

namespace ringway::conf {
namespace {

std::string indexed(std::string_view list, std::size_t index) {
  return std::string(list) + "[" + std::to_string(index) + "]";
}

// Reports every name seen before, pointing back at the first one. Empty names were already
// reported by the readers.
class UniqueNames {
 public:
  explicit UniqueNames(std::string_view what) : what_(what) {}

  void add(const std::string& name, Mark at, const std::string& path, std::string_view scope,
           Diagnostics& diag) {
    if (name.empty()) {
      return;
    }
    const auto [first, inserted] = first_line_.emplace(name, at.line);
    if (!inserted) {
      diag.error(at, path + ": duplicate " + what_ + " name " + quoted(name) + std::string(scope) +
                         " (first at line " + std::to_string(first->second) + ")");
    }
  }

 private:
  std::string what_;
  std::map<std::string, int, std::less<>> first_line_;
};

// "127.0.0.1" and "127.000.000.001" are different text for one address; IP literals are compared
// as addresses, host names case-insensitively.
bool same_host(const std::string& a, const std::string& b) {
  constexpr std::size_t kAddressBytes = 16;
  for (const int family : {AF_INET, AF_INET6}) {
    std::array<unsigned char, kAddressBytes> bytes_a{};
    std::array<unsigned char, kAddressBytes> bytes_b{};
    if (inet_pton(family, a.c_str(), bytes_a.data()) == 1 &&
        inet_pton(family, b.c_str(), bytes_b.data()) == 1) {
      return bytes_a == bytes_b;
    }
  }
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

bool same_endpoint(const Endpoint& a, const Endpoint& b) {
  return !a.host.empty() && !b.host.empty() && a.port == b.port && same_host(a.host, b.host);
}

std::string listener_label(const Listener& listener, std::size_t index) {
  return listener.name.empty() ? indexed("listeners", index) : "listener " + quoted(listener.name);
}

void check_names(const Config& config, const SourceMarks& marks, Diagnostics& diag) {
  UniqueNames listeners("listener");
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    listeners.add(config.listeners[i].name, marks.listeners[i].name,
                  indexed("listeners", i) + ".name", "", diag);
  }
  UniqueNames pools("pool");
  for (std::size_t i = 0; i < config.pools.size(); ++i) {
    const Pool& pool = config.pools[i];
    const PoolMarks& pool_marks = marks.pools[i];
    pools.add(pool.name, pool_marks.name, indexed("pools", i) + ".name", "", diag);
    UniqueNames backends("backend");
    const std::string scope = pool.name.empty() ? "" : " in pool " + quoted(pool.name);
    for (std::size_t j = 0; j < pool.backends.size(); ++j) {
      backends.add(pool.backends[j].name, pool_marks.backend_names[j],
                   indexed(indexed("pools", i) + ".backends", j) + ".name", scope, diag);
    }
  }
}

void check_binds(const Config& config, const SourceMarks& marks, Diagnostics& diag) {
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const Listener& listener = config.listeners[i];
    for (std::size_t first = 0; first < i; ++first) {
      if (same_endpoint(config.listeners[first].bind, listener.bind)) {
        diag.error(marks.listeners[i].bind,
                   indexed("listeners", i) + ".bind: " + quoted(listener.bind.text) +
                       " is already the bind of " + listener_label(config.listeners[first], first) +
                       " (line " + std::to_string(marks.listeners[first].bind.line) + ")");
        break;
      }
    }
  }
  if (!config.admin.bind) {
    return;
  }
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    if (same_endpoint(config.listeners[i].bind, *config.admin.bind)) {
      diag.error(marks.admin_bind, "admin.bind: " + quoted(config.admin.bind->text) +
                                       " is already the bind of " +
                                       listener_label(config.listeners[i], i) + " (line " +
                                       std::to_string(marks.listeners[i].bind.line) + ")");
      break;
    }
  }
}

void check_pool_reference(const Config& config, const std::string& pool, Mark at,
                          const std::string& path, Diagnostics& diag) {
  if (!pool.empty() && config.find_pool(pool) == nullptr) {
    diag.error(at, path + ": pool " + quoted(pool) + " is not defined");
  }
}

void check_pools_used(const Config& config, const SourceMarks& marks, Diagnostics& diag) {
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const Listener& listener = config.listeners[i];
    const std::string path = indexed("listeners", i);
    check_pool_reference(config, listener.pool, marks.listeners[i].pool, path + ".pool", diag);
    for (std::size_t j = 0; j < listener.routes.size(); ++j) {
      check_pool_reference(config, listener.routes[j].pool, marks.listeners[i].route_pools[j],
                           indexed(path + ".routes", j) + ".pool", diag);
    }
  }
  for (std::size_t i = 0; i < config.pools.size(); ++i) {
    const std::string& name = config.pools[i].name;
    const bool used = name.empty() || std::ranges::any_of(config.listeners, [&](const Listener& l) {
                        return l.pool == name ||
                               std::ranges::find(l.routes, name, &Route::pool) != l.routes.end();
                      });
    if (!used) {
      diag.error(marks.pools[i].name,
                 indexed("pools", i) + ": pool " + quoted(name) + " is not used by any listener");
    }
  }
}

}  // namespace

void check_references(const Config& config, const SourceMarks& marks, Diagnostics& diag) {
  check_names(config, marks, diag);
  check_binds(config, marks, diag);
  check_pools_used(config, marks, diag);
}

}  // namespace ringway::conf
