// The running configuration: an immutable snapshot built from a validated Config, with everything
// the data path needs precomputed (resolved backend addresses, selection tables, route lists). A
// connection holds the snapshot it started with (shared_ptr), so a reload never pulls the floor from
// under it. Backend state that changes at run time (live connection counts, drain) lives in atomics.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/discovery.h"
#include "health/backend_state.h"
#include "lb/selector.h"
#include "proxy/http/affinity_cookie.h"

namespace ringway {
namespace tls {
class ServerTlsContext;
class ClientTlsContext;
struct TicketKeys;
}  // namespace tls

struct BackendRuntime {
  const conf::Backend* config = nullptr;  // points into Runtime::config
  sockaddr_storage address{};
  std::string address_text;  // resolved, for logs
  std::shared_ptr<health::BackendState> state;  // shared across reloads by identity
};

// Backend states by identity (pool name + backend name), kept by the process across reloads: a
// new Runtime takes the state of every backend it keeps, and new state for new backends.
class BackendRegistry {
 public:
  std::shared_ptr<health::BackendState> get_or_create(const std::string& pool, const std::string& backend,
                                                      bool& created);
  std::shared_ptr<health::BackendState> find(const std::string& pool, const std::string& backend) const;
  // Keeps only the identities of `runtime` (removed backends live on in the sessions that use them).
  void retain_only(const struct Runtime& runtime);

 private:
  std::map<std::string, std::shared_ptr<health::BackendState>> states_;
};

struct PoolRuntime {
  const conf::Pool* config = nullptr;
  std::vector<std::unique_ptr<BackendRuntime>> backends;  // in file order (discovered: by address)
  // Each backend's live-connection counter, for the selector's bounded-load check.
  std::vector<const std::atomic<uint32_t>*> active;
  lb::SelectionTable table;
  // The backends expanded from `discover: dns` entries (BackendRuntime::config points here).
  std::vector<std::unique_ptr<conf::Backend>> discovered;
  std::shared_ptr<const tls::ClientTlsContext> backend_tls;  // null: plain TCP to the backends
  // pools[].affinity_cookie: each backend's cookie value, for lookups at the request head; null
  // when the pool has none.
  std::unique_ptr<const http::AffinityCookie> affinity;

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
  std::shared_ptr<const tls::ServerTlsContext> tls;  // null: plain TCP

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

// Builds the TLS contexts of `runtime`'s listeners and pools (files as read by conf). Resumption
// keys are the process's, so tickets survive reloads. false with `errors` filled on failure.
bool attach_tls(Runtime& runtime, const tls::TicketKeys& keys, std::vector<std::string>& errors);

// Builds the snapshot; on failure (an address that cannot be resolved) returns null and fills
// `errors` with one line per problem. Backend state comes from `registry` (created for new
// backends, with `drain: true` applied; a kept backend's drain changes only if its `drain` key did).
// A `discover: dns` entry becomes one backend per address of `discovered` for its name (none while
// the name has no answer); its name is never resolved here. A static backend or listener of the
// same configuration as `previous` (the same Config object) keeps the address resolved then.
std::shared_ptr<Runtime> build_runtime(std::shared_ptr<const conf::Config> config, uint64_t generation,
                                       BackendRegistry& registry, const Runtime* previous,
                                       std::vector<std::string>& errors,
                                       const conf::DiscoveredAddresses* discovered = nullptr);

}  // namespace ringway
