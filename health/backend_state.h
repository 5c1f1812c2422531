// The run-time state of one backend, shared by everything that looks at it: the sessions (live
// connection counts), the balancer (usable or not), health checks, admin drain and metrics.
// Identity is pool name + backend name: a reload that keeps a backend keeps this object, so its
// health, drain state and connection counts survive. Atomics only: workers read it lock-free.
#pragma once

#include <atomic>
#include <cstdint>

namespace ringway::health {

enum class Health : uint8_t {
  Unknown,  // checks configured, none finished yet: takes no traffic
  Up,
  Down,
};

struct BackendState {
  std::atomic<uint32_t> active{0};           // live connections (handshaking or relaying)
  std::atomic<bool> draining{false};         // no new connections (admin or `drain: true`)
  std::atomic<Health> health{Health::Up};    // active checks; Up when none are configured
  std::atomic<uint64_t> connect_failures{0}; // total, for /status and metrics

  // May this backend take a new connection?
  bool usable() const {
    return !draining.load(std::memory_order_relaxed) &&
           health.load(std::memory_order_relaxed) == Health::Up;
  }
};

}  // namespace ringway::health
