#include "proxy/metrics_scrape.h"

#include <algorithm>

#include "proxy/http/affinity_cookie.h"
#include "proxy/metrics_text.h"
#include "proxy/worker.h"
#include "proxy/worker_pool.h"
#include "ringway_version.h"

namespace ringway::metrics {
namespace {

template <size_t N>
void add_all(std::array<uint64_t, N>& to, const std::array<Counter, N>& from) {
  for (size_t i = 0; i < N; ++i) to[i] += from[i].get();
}

template <size_t N>
std::array<double, N> as_doubles(const std::array<uint64_t, N>& values, double divisor) {
  std::array<double, N> out{};
  // Divided, not multiplied by 1e-9: a division is correctly rounded, so 100000 ns is exactly 0.0001.
  for (size_t i = 0; i < N; ++i) out[i] = static_cast<double>(values[i]) / divisor;
  return out;
}

}  // namespace

void WorkerTotals::add(const WorkerMetrics& w) {
  add_all(messages, w.messages);
  add_all(bytes, w.bytes);
  for (size_t d = 0; d < kDirections; ++d) {
    add_all(message_size[d], w.message_size[d].buckets);
    message_size_sum[d] += w.message_size[d].sum.get();
  }
  for (size_t s = 0; s < kSides; ++s) add_all(closes[s], w.closes[s]);
  add_all(errors, w.errors);
  add_all(closed, w.closed);
  add_all(go_away, w.go_away);
  failovers += w.failovers.get();
  coalesced_sleeps += w.coalesced_sleeps.get();
  edge_triggered += w.edge_triggered.get();
  add_all(http_local, w.http_local);
}

void HandshakeTotals::add(const health::BackendStats& stats) {
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += stats.handshake_buckets[i].load(std::memory_order_relaxed);
  sum_ns += stats.handshake_ns.load(std::memory_order_relaxed);
}

void HandshakeTotals::add(const HandshakeTotals& other) {
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  sum_ns += other.sum_ns;
}

static_assert(std::tuple_size_v<decltype(health::BackendStats::affinity)> == http::kAffinityResults,
              "health::BackendStats must hold every affinity result");

void AffinityTotals::add(const health::BackendStats& stats) {
  for (size_t i = 0; i < results.size(); ++i) results[i] += stats.affinity[i].load(std::memory_order_relaxed);
}

void AffinityTotals::add(const AffinityTotals& other) {
  for (size_t i = 0; i < results.size(); ++i) results[i] += other.results[i];
}

Snapshot ProcessMetrics::snapshot(const WorkerPool& workers) {
  Snapshot snap;
  snap.version = RINGWAY_VERSION;
  snap.reloads_ok = reloads_ok_.get();
  snap.reloads_failed = reloads_failed_.get();
  for (size_t i = 0; i < workers.size(); ++i) {
    const Worker& worker = workers.worker(i);
    snap.totals.add(worker.metrics());
    snap.workers.push_back(Snapshot::Worker{worker.sessions_active(), worker.sessions_total()});
  }
  const std::shared_ptr<const Runtime> runtime = workers.runtime();
  if (!runtime) return snap;
  snap.generation = runtime->generation;
  for (const ListenerRuntime& listener : runtime->listeners) {
    const ListenerCounters* counters = workers.counters(listener);
    snap.listeners.push_back(Snapshot::Listener{listener.config->name, counters != nullptr ? counters->active() : 0,
                                                counters != nullptr ? counters->total() : 0});
  }

  std::map<std::string, PoolHistory> kept;
  for (const auto& pool : runtime->pools) {
    const std::string& pool_name = pool->config->name;
    PoolHistory history;
    if (auto it = pools_.find(pool_name); it != pools_.end()) history = std::move(it->second);
    std::vector<std::shared_ptr<health::BackendState>> current;
    Snapshot::Pool& out = snap.pools.emplace_back();
    out.name = pool_name;
    out.affinity_cookie = pool->affinity != nullptr;
    for (const auto& backend : pool->backends) {
      const health::BackendState& state = *backend->state;
      current.push_back(backend->state);
      out.handshake.add(state.stats);
      out.affinity.add(state.stats);
      Snapshot::Backend b;
      b.pool = pool_name;
      b.name = backend->config->name;
      b.active = state.active.load(std::memory_order_relaxed);
      b.up = state.health.load(std::memory_order_relaxed) == health::Health::Up;
      b.draining = state.draining.load(std::memory_order_relaxed);
      b.connect_failures = state.connect_failures.load(std::memory_order_relaxed);
      for (size_t i = 0; i < b.upgrades.size(); ++i) b.upgrades[i] = state.stats.upgrades[i].load(std::memory_order_relaxed);
      for (size_t i = 0; i < b.http_requests.size(); ++i) {
        b.http_requests[i] = state.stats.http_requests[i].load(std::memory_order_relaxed);
      }
      snap.backends.push_back(std::move(b));
    }
    // Backends gone since the last scrape: what they counted stays in the pool's histogram.
    for (const auto& gone : history.seen) {
      if (std::find(current.begin(), current.end(), gone) == current.end()) {
        history.retired.add(gone->stats);
        history.retired_affinity.add(gone->stats);
      }
    }
    history.seen = std::move(current);
    out.handshake.add(history.retired);
    out.affinity.add(history.retired_affinity);
    kept.emplace(pool_name, std::move(history));
  }
  pools_ = std::move(kept);  // a removed pool takes its series with it
  return snap;
}

std::string render(const Snapshot& s) {
  TextWriter w;
  w.family("ringway_build_info", "gauge", "Always 1; the version of the running ringway.");
  w.sample("ringway_build_info", {{"version", s.version}}, uint64_t{1});

  w.family("ringway_config_generation", "gauge", "Generation of the running configuration: 1 at start, +1 per applied reload.");
  w.sample("ringway_config_generation", {}, s.generation);
  w.family("ringway_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
  w.sample("ringway_config_reloads_total", {{"result", "success"}}, s.reloads_ok);
  w.sample("ringway_config_reloads_total", {{"result", "failure"}}, s.reloads_failed);

  w.family("ringway_connections_active", "gauge", "Client connections open now, by listener.");
  for (const auto& l : s.listeners) w.sample("ringway_connections_active", {{"listener", l.name}}, l.active);
  w.family("ringway_connections_total", "counter", "Client connections accepted, by listener.");
  for (const auto& l : s.listeners) w.sample("ringway_connections_total", {{"listener", l.name}}, l.total);

  w.family("ringway_workers", "gauge", "Worker threads (the `workers` setting, resolved).");
  w.sample("ringway_workers", {}, static_cast<uint64_t>(s.workers.size()));
  w.family("ringway_worker_connections_active", "gauge",
           "Client connections open now, by worker thread (how SO_REUSEPORT spread them).");
  for (size_t i = 0; i < s.workers.size(); ++i) {
    w.sample("ringway_worker_connections_active", {{"worker", std::to_string(i)}}, s.workers[i].active);
  }
  w.family("ringway_worker_connections_total", "counter", "Client connections accepted, by worker thread.");
  for (size_t i = 0; i < s.workers.size(); ++i) {
    w.sample("ringway_worker_connections_total", {{"worker", std::to_string(i)}}, s.workers[i].total);
  }

  w.family("ringway_backend_up", "gauge", "1 when the backend's health is up, else 0.");
  for (const auto& b : s.backends) w.sample("ringway_backend_up", {{"pool", b.pool}, {"backend", b.name}}, uint64_t{b.up});
  w.family("ringway_backend_draining", "gauge", "1 while the backend is drained (admin or drain: true), else 0.");
  for (const auto& b : s.backends) {
    w.sample("ringway_backend_draining", {{"pool", b.pool}, {"backend", b.name}}, uint64_t{b.draining});
  }
  w.family("ringway_backend_connections_active", "gauge", "Connections to the backend open now (upgrading or relaying).");
  for (const auto& b : s.backends) {
    w.sample("ringway_backend_connections_active", {{"pool", b.pool}, {"backend", b.name}}, b.active);
  }
  w.family("ringway_backend_connect_failures_total", "counter", "TCP connects to the backend that failed or timed out.");
  for (const auto& b : s.backends) {
    w.sample("ringway_backend_connect_failures_total", {{"pool", b.pool}, {"backend", b.name}}, b.connect_failures);
  }
  w.family("ringway_upgrades_total", "counter",
           "WebSocket upgrades forwarded to the backend, by result: ok (101 relayed), rejected (the backend "
           "answered another status, relayed), error (no valid answer).");
  for (const auto& b : s.backends) {
    for (size_t r = 0; r < kUpgradeResultNames.size(); ++r) {
      w.sample("ringway_upgrades_total", {{"pool", b.pool}, {"backend", b.name}, {"result", kUpgradeResultNames[r]}},
               b.upgrades[r]);
    }
  }

  w.family("ringway_http_requests_total", "counter",
           "Plain HTTP requests (not upgrades), by the backend that got them and the final status class sent "
           "to the client; pool=\"\" and backend=\"\" count the requests ringway answered itself first.");
  for (size_t c = 0; c < kStatusClassNames.size(); ++c) {
    w.sample("ringway_http_requests_total", {{"pool", ""}, {"backend", ""}, {"code_class", kStatusClassNames[c]}},
             s.totals.http_local[c]);
  }
  for (const auto& b : s.backends) {
    for (size_t c = 0; c < kStatusClassNames.size(); ++c) {
      w.sample("ringway_http_requests_total", {{"pool", b.pool}, {"backend", b.name}, {"code_class", kStatusClassNames[c]}},
               b.http_requests[c]);
    }
  }

  w.family("ringway_handshake_duration_seconds", "histogram",
           "Time from accepting the client connection to relaying the backend's 101, by pool.");
  const auto handshake_bounds = as_doubles(kHandshakeBoundsNs, 1e9);
  for (const auto& p : s.pools) {
    w.histogram("ringway_handshake_duration_seconds", {{"pool", p.name}}, handshake_bounds, p.handshake.buckets,
                static_cast<double>(p.handshake.sum_ns) / 1e9);
  }

  w.family("ringway_affinity_total", "counter",
           "Requests to a pool with an affinity_cookie, by what their cookie said: hit (its backend served "
           "it), miss (no cookie), invalid (forged or garbled: ignored), renewed (its backend was not usable). "
           "Every result but hit sent Set-Cookie.");
  for (const auto& p : s.pools) {
    if (!p.affinity_cookie) continue;
    for (size_t r = 0; r < p.affinity.results.size(); ++r) {
      w.sample("ringway_affinity_total", {{"pool", p.name}, {"result", http::kAffinityResultNames[r]}},
               p.affinity.results[r]);
    }
  }

  w.family("ringway_messages_total", "counter", "Complete WebSocket data messages relayed, by direction.");
  for (size_t d = 0; d < kDirections; ++d) {
    w.sample("ringway_messages_total", {{"direction", kDirectionNames[d]}}, s.totals.messages[d]);
  }
  w.family("ringway_bytes_total", "counter",
           "WebSocket frame bytes read from each peer after the 101 (frame headers included, HTTP heads and "
           "ringway's own frames excluded; on tcp listeners every byte relayed), by direction.");
  for (size_t d = 0; d < kDirections; ++d) {
    w.sample("ringway_bytes_total", {{"direction", kDirectionNames[d]}}, s.totals.bytes[d]);
  }
  w.family("ringway_message_size_bytes", "histogram", "Payload size of complete WebSocket data messages, by direction.");
  const auto size_bounds = as_doubles(kMessageSizeBounds, 1.0);
  for (size_t d = 0; d < kDirections; ++d) {
    w.histogram("ringway_message_size_bytes", {{"direction", kDirectionNames[d]}}, size_bounds,
                s.totals.message_size[d], static_cast<double>(s.totals.message_size_sum[d]));
  }

  w.family("ringway_errors_total", "counter",
           "Connections that ended in an error, by kind (bad_request: 400/426/431; handshake_timeout: 408; "
           "no_backend: 503/404; connect_failed: 502; protocol: 1002; too_big: 1009).");
  for (size_t k = 0; k < kErrorKinds; ++k) w.sample("ringway_errors_total", {{"kind", kErrorKindNames[k]}}, s.totals.errors[k]);

  w.family("ringway_closes_total", "counter",
           "WebSocket Close frames by sender (client, backend, or ringway's own) and code (1005: no code; 3xxx, "
           "4xxx: application codes).");
  for (size_t side = 0; side < kSides; ++side) {
    for (size_t slot = 0; slot < kCloseCodeSlots; ++slot) {
      w.sample("ringway_closes_total", {{"side", kSideNames[side]}, {"code", close_code_label(slot)}},
               s.totals.closes[side][slot]);
    }
  }
  w.family("ringway_connections_closed_total", "counter", "Finished client connections, by the reason they ended.");
  for (size_t r = 1; r < kCloseReasons; ++r) {
    w.sample("ringway_connections_closed_total", {{"reason", to_string(static_cast<CloseReason>(r))}}, s.totals.closed[r]);
  }
  w.family("ringway_go_away_total", "counter",
           "WebSocket connections told to go away (Close 1001; tcp connections: given their FIN deadline), by cause: a "
           "backend drain or shutdown.");
  for (size_t c = 0; c < kGoAwayNames.size(); ++c) {
    w.sample("ringway_go_away_total", {{"cause", kGoAwayNames[c]}}, s.totals.go_away[c]);
  }
  w.family("ringway_failovers_total", "counter",
           "Close 1012 sent to clients whose backend went away without a Close (they reconnect elsewhere).");
  w.sample("ringway_failovers_total", {}, s.totals.failovers);
  w.family("ringway_wakeup_coalescing_sleeps_total", "counter",
           "Times a worker ran out of work while traffic flowed and slept wakeup_coalescing instead of waiting to be "
           "woken by each arriving segment.");
  w.sample("ringway_wakeup_coalescing_sleeps_total", {}, s.totals.coalesced_sleeps);
  w.family("ringway_sockets_edge_triggered_total", "counter",
           "Times a relayed socket that kept exchanging short reads was switched to edge-triggered polling.");
  w.sample("ringway_sockets_edge_triggered_total", {}, s.totals.edge_triggered);
  return w.take();
}

std::string scrape(const WorkerPool& workers, ProcessMetrics& process) {
  return render(process.snapshot(workers));
}

}  // namespace ringway::metrics
