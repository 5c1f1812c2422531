// The running configuration: an immutable snapshot built from a validated Config, with everything
// the data path needs precomputed (resolved backend addresses, selection tables, route lists). A
// connection holds the snapshot it started with (shared_ptr), so a reload never pulls the floor from
// under it. Backend state that changes at run time (live connection counts, drain) lives in atomics.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "lb/selector.h"

namespace ringway {

struct BackendRuntime {
  const conf::Backend* config = nullptr;  // points into Runtime::config
  sockaddr_storage address{};
  std::string address_text;  // resolved, for logs
  // Set by the admin endpoint (and `drain: true`): no new connections.
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> connect_failures{0};
};

struct PoolRuntime {
  const conf::Pool* config = nullptr;
  std::vector<std::unique_ptr<BackendRuntime>> backends;  // in file order
  // Live connections per backend, contiguous for the selector's bounded-load check.
  std::unique_ptr<std::atomic<uint32_t>[]> active;
  lb::SelectionTable table;

  explicit PoolRuntime(lb::SelectionTable t) : table(std::move(t)) {}
  size_t backend_index(std::string_view name) const;  // npos when absent
};

struct RouteRuntime {
  std::string host;  // lower-cased; "" = any; "*.suffix" = wildcard
  std::string path_prefix;
  const PoolRuntime* pool = nullptr;
};

struct ListenerRuntime {
  const conf::Listener* config = nullptr;
  sockaddr_storage bind{};
  const PoolRuntime* default_pool = nullptr;  // may be null when only routes lead somewhere
  std::vector<RouteRuntime> routes;

  // The pool for a request, per the contract: first matching route, else the default pool.
  const PoolRuntime* route(std::string_view host_header, std::string_view target) const;
};

struct Runtime {
  std::shared_ptr<const conf::Config> config;
  uint64_t generation = 1;
  std::vector<std::unique_ptr<PoolRuntime>> pools;
  std::vector<ListenerRuntime> listeners;

  PoolRuntime* find_pool(std::string_view name) const;
};

// Builds the snapshot; on failure (an address that cannot be resolved) returns null and fills
// `errors` with one line per problem.
std::shared_ptr<Runtime> build_runtime(std::shared_ptr<const conf::Config> config, uint64_t generation,
                                       std::vector<std::string>& errors);

}  // namespace ringway
