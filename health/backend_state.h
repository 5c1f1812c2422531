// The run-time state of one backend, shared by everything that looks at it: the sessions (live
// connection counts), the balancer (usable or not), health checks, admin drain and metrics.
// Identity is pool name + backend name: a reload that keeps a backend keeps this object, so its
// health, drain state and connection counts survive. Atomics only: workers read it lock-free.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "health/check_record.h"

namespace ringway::health {

enum class Health : uint8_t {
  Unknown,  // checks configured, none finished yet: takes no traffic
  Up,
  Down,
};

// Per-connection numbers for /metrics (proxy/metrics.h names the slots and the buckets), added to
// by every worker. Kept with the state so that they survive reloads and leave with the backend.
struct BackendStats {
  static constexpr size_t kHandshakeSlots = 20;
  std::array<std::atomic<uint64_t>, 3> upgrades{};  // ok, rejected, error
  std::array<std::atomic<uint64_t>, kHandshakeSlots> handshake_buckets{};  // non-cumulative
  std::atomic<uint64_t> handshake_ns{0};  // sum of the observed handshake times
  // Plain HTTP requests this backend got, by the final status class sent to the client (1xx..5xx;
  // ringway's own 502/504 for it included).
  std::array<std::atomic<uint64_t>, 5> http_requests{};
  // Requests of a pool with an affinity cookie that this backend served, by what their cookie
  // said: hit, miss, invalid, renewed (http::AffinityResult). Summed per pool for /metrics.
  std::array<std::atomic<uint64_t>, 4> affinity{};
};

struct BackendState {
  std::atomic<uint32_t> active{0};           // live connections (handshaking or relaying)
  std::atomic<bool> draining{false};         // no new connections (admin or `drain: true`)
  std::atomic<Health> health{Health::Up};    // active checks; Up when none are configured
  std::atomic<uint64_t> connect_failures{0}; // total, for /status and metrics
  BackendStats stats;                        // upgrades and handshake times, for metrics
  // Passive ejection (health/passive.h): out of rotation until this uv_now() time; 0 = never was.
  std::atomic<uint64_t> ejected_until_ms{0};
  std::atomic<uint32_t> consecutive_failures{0};  // connect failures and resets since a success
  std::atomic<uint64_t> ejections{0};             // total, for /status
  CheckRecord check;  // the active checks' last result (control loop and admin only, not workers)

  // May this backend take a new connection? `now_ms` is uv_now() of the caller's loop (every loop's
  // clock is the same monotonic clock).
  bool usable(uint64_t now_ms) const {
    return !draining.load(std::memory_order_relaxed) &&
           health.load(std::memory_order_relaxed) == Health::Up &&
           now_ms >= ejected_until_ms.load(std::memory_order_relaxed);
  }
};

}  // namespace ringway::health
