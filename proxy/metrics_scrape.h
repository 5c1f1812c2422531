// GET /metrics: gathers the per-worker counters (summed), the listeners, the backends of the running
// configuration and the process-wide numbers into a Snapshot, and renders it. Runs on the control
// loop; it only reads what workers write (relaxed atomics in blocks whose addresses never change
// while it runs: each Worker's metrics, the pool's listener counter blocks), and the configuration
// as the control thread knows it, so a scrape never stops or races a worker.
//
// Metric families (the contract's, then what operators also want):
//   ringway_connections_active{listener}, ringway_connections_total{listener}
//   ringway_backend_connections_active{pool,backend}, ringway_backend_up{pool,backend}
//   ringway_upgrades_total{pool,backend,result=ok|rejected|error}
//   ringway_handshake_duration_seconds{pool}          histogram, accept to the 101 relayed
//   ringway_messages_total{direction}, ringway_bytes_total{direction}
//   ringway_errors_total{kind}                         every kind, 0 included
//   ringway_backend_connect_failures_total{pool,backend}
//   ringway_config_reloads_total{result=success|failure}, ringway_config_generation
//   ringway_build_info{version}                        always 1
//   ringway_backend_draining{pool,backend}
//   ringway_message_size_bytes{direction}              histogram, payload bytes of whole messages
//   ringway_closes_total{side=client|backend|ringway,code}  Close frames, by sender and code
//   ringway_connections_closed_total{reason}           finished connections by CloseReason
//   ringway_go_away_total{cause=drain|shutdown}        connections told to go away (Close 1001)
//   ringway_failovers_total                            Close 1012 sent: the backend vanished
//   ringway_wakeup_coalescing_sleeps_total             workers' sleeps instead of blocking (worker_loop.h)
//   ringway_sockets_edge_triggered_total               relayed sockets switched to edge-triggered polling
//   ringway_http_requests_total{pool,backend,code_class=1xx..5xx}  plain HTTP requests (not
//                                                      upgrades); pool="",backend="": ringway's own answers
//   ringway_workers                                    gauge: worker threads
//   ringway_worker_connections_active{worker}          client connections open now on each worker
//   ringway_worker_connections_total{worker}           ... accepted by each worker
//   ringway_affinity_total{pool,result=hit|miss|invalid|renewed}  pools with an affinity_cookie
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "health/backend_state.h"
#include "proxy/metrics.h"

namespace ringway {
class WorkerPool;
}

namespace ringway::metrics {

// Per-worker counters, summed (plain numbers).
struct WorkerTotals {
  std::array<uint64_t, kDirections> messages{};
  std::array<uint64_t, kDirections> bytes{};
  std::array<std::array<uint64_t, kMessageSizeBounds.size() + 1>, kDirections> message_size{};
  std::array<uint64_t, kDirections> message_size_sum{};
  std::array<std::array<uint64_t, kCloseCodeSlots>, kSides> closes{};
  std::array<uint64_t, kErrorKinds> errors{};
  std::array<uint64_t, kCloseReasons> closed{};
  std::array<uint64_t, 2> go_away{};
  uint64_t failovers = 0;
  uint64_t coalesced_sleeps = 0;
  uint64_t edge_triggered = 0;
  std::array<uint64_t, kStatusClassNames.size()> http_local{};

  void add(const WorkerMetrics& worker);
};

// A pool's handshake histogram: the sum over its backends.
struct HandshakeTotals {
  std::array<uint64_t, kHandshakeBoundsNs.size() + 1> buckets{};
  uint64_t sum_ns = 0;

  void add(const health::BackendStats& stats);
  void add(const HandshakeTotals& other);
};

// A pool's affinity-cookie outcomes (hit, miss, invalid, renewed): the sum over its backends.
struct AffinityTotals {
  std::array<uint64_t, 4> results{};

  void add(const health::BackendStats& stats);
  void add(const AffinityTotals& other);
};

struct Snapshot {
  struct Listener {
    std::string name;
    uint64_t active = 0;
    uint64_t total = 0;
  };
  struct Pool {
    std::string name;
    HandshakeTotals handshake;
    bool affinity_cookie = false;  // ringway_affinity_total is exposed for this pool
    AffinityTotals affinity;
  };
  struct Backend {
    std::string pool;
    std::string name;
    uint64_t active = 0;
    bool up = false;
    bool draining = false;
    uint64_t connect_failures = 0;
    std::array<uint64_t, 3> upgrades{};  // by UpgradeResult
    std::array<uint64_t, kStatusClassNames.size()> http_requests{};  // plain HTTP, by status class
  };

  std::string version;
  uint64_t generation = 0;
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
  struct Worker {
    uint64_t active = 0;
    uint64_t total = 0;
  };
  std::vector<Listener> listeners;  // summed over the workers
  std::vector<Worker> workers;      // by worker index
  std::vector<Pool> pools;
  std::vector<Backend> backends;    // in pool order, then file order
  WorkerTotals totals;
};

std::string render(const Snapshot& snapshot);

// Process-wide numbers, kept on the control loop: reloads, and per pool the handshake times of the
// backends that reloads removed, so that a pool's histogram never goes down when a backend leaves
// (the removed backend's own series disappear).
class ProcessMetrics {
 public:
  void count_reload(bool success) { ++(success ? reloads_ok_ : reloads_failed_); }
  uint64_t reloads(bool success) const { return success ? reloads_ok_ : reloads_failed_; }

  // The workers run one configuration (the pool's) and are summed.
  Snapshot snapshot(const WorkerPool& workers);

 private:
  struct PoolHistory {
    std::vector<std::shared_ptr<health::BackendState>> seen;  // the pool's backends at the last scrape
    HandshakeTotals retired;  // backends seen before and gone since
    AffinityTotals retired_affinity;
  };
  Counter reloads_ok_;
  Counter reloads_failed_;
  std::map<std::string, PoolHistory> pools_;
};

// The /metrics body.
std::string scrape(const WorkerPool& workers, ProcessMetrics& process);

}  // namespace ringway::metrics
