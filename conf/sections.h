// Internal to conf/: reading each section of the file into Config, and the cross-section checks.
// Readers record where names and references were written (SourceMarks) so that the checks, which
// run on the finished Config, can still point at the right line and column.
#pragma once

#include <optional>
#include <vector>

#include "conf/config.h"
#include "conf/diagnostics.h"
#include "conf/yaml_reader.h"

namespace ringway::conf {

struct ListenerMarks {
  Mark item;  // the listener's map
  Mark name;
  Mark bind;
  Mark pool;
  std::vector<Mark> route_pools;  // one per route, same order as Listener::routes
};

struct PoolMarks {
  Mark item;
  Mark name;
  std::vector<Mark> backend_names;  // one per backend, same order as Pool::backends
};

// Parallel to Config: listeners[i] and pools[i] describe Config::listeners[i] and Config::pools[i].
struct SourceMarks {
  std::vector<ListenerMarks> listeners;
  std::vector<PoolMarks> pools;
  Mark admin_bind;
};

// Each reader fills what it could read and reports the rest. Every list item gets an entry in
// Config (empty where unreadable) so that indexes in messages match the file.
void read_listeners(const Field& field, Config& config, SourceMarks& marks, Diagnostics& diag);
void read_pools(const Field& field, Config& config, SourceMarks& marks, Diagnostics& diag);
void read_websocket(const Field& field, WebSocket& out, Diagnostics& diag);
void read_limits(const Field& field, Limits& out, Diagnostics& diag);
void read_timeouts(const Field& field, Timeouts& out, Diagnostics& diag);
void read_shutdown(const Field& field, Shutdown& out, Diagnostics& diag);
void read_admin(const Field& field, Admin& out, SourceMarks& marks, Diagnostics& diag);
// workers: auto | N (1 to kMaxWorkers).
void read_workers(const Field& field, uint32_t& out, Diagnostics& diag);
// wakeup_coalescing: 0 | <n>us | <n>ms, at most kMaxWakeupCoalescingUs.
void read_wakeup_coalescing(const Field& field, uint32_t& out, Diagnostics& diag);
// listeners[].tls and pools[].backend_tls (read_tls.cpp): the files they name are read and checked
// here, so that --check finds a missing file or a key that does not match its certificate.
ListenerTls read_listener_tls(const Field& field, Diagnostics& diag);
BackendTls read_backend_tls(const Field& field, Diagnostics& diag);

// pools[].affinity_cookie (read_affinity.cpp); a secret_file is read here.
AffinityCookie read_affinity_cookie(const Field& field, Diagnostics& diag);

// backends[].discover and backends[].interval (read_discovery.cpp).
void read_backend_discovery(const std::optional<Field>& discover, const std::optional<Field>& interval,
                            Backend& out, Diagnostics& diag);

// Checks that span sections: unique names and binds, pool references, unused pools.
void check_references(const Config& config, const SourceMarks& marks, Diagnostics& diag);

}  // namespace ringway::conf
