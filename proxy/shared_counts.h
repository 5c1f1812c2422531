// Connection counts that span the workers (proxy/worker_pool.h). Touched at accept and at close only,
// never per message: a process-wide atomic for limits.max_connections, a map behind a mutex for
// limits.max_connections_per_ip, and per listener one counter slot per worker for /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/metrics.h"

namespace ringway {

// Both limits are process-wide: whichever worker the kernel hands a connection to, the 11th of a
// `max_connections: 10` gets 503.
class ProcessConnections {
 public:
  // Counts a new session; returns the count including it.
  uint64_t started() { return live_.fetch_add(1, std::memory_order_relaxed) + 1; }
  void finished() { live_.fetch_sub(1, std::memory_order_relaxed); }
  uint64_t live() const { return live_.load(std::memory_order_relaxed); }

  // false when `ip` already has `limit` sessions; else counts one more.
  bool admit_ip(const std::string& ip, uint64_t limit) {
    const std::lock_guard lock(mutex_);
    const auto it = per_ip_.find(ip);
    const uint32_t count = it == per_ip_.end() ? 0 : it->second;
    if (count >= limit) return false;
    if (it == per_ip_.end()) {
      per_ip_.emplace(ip, 1);
    } else {
      ++it->second;
    }
    return true;
  }
  void release_ip(const std::string& ip) {
    const std::lock_guard lock(mutex_);
    const auto it = per_ip_.find(ip);
    if (it == per_ip_.end()) return;
    if (--it->second == 0) per_ip_.erase(it);
  }

 private:
  std::atomic<uint64_t> live_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, uint32_t> per_ip_;
};

// One listener's connection counters: a slot per worker, each written by that worker alone (so a
// Counter, no read-modify-write) and summed by /metrics and /status. Made by the control thread
// for each bind and handed to every worker with its socket; a reload that keeps the bind keeps the
// block, so the totals go on. Shared ownership: a worker's retired listener may outlive the
// control thread's interest in it.
class ListenerCounters {
 public:
  struct alignas(64) Slot {  // a cache line each: workers never write the same line
    metrics::Counter active;
    metrics::Counter total;
  };

  explicit ListenerCounters(size_t workers) : slots_(workers) {}
  Slot& slot(size_t worker) { return slots_[worker]; }
  uint64_t active() const {
    uint64_t n = 0;
    for (const Slot& s : slots_) n += s.active.get();
    return n;
  }
  uint64_t total() const {
    uint64_t n = 0;
    for (const Slot& s : slots_) n += s.total.get();
    return n;
  }

 private:
  std::vector<Slot> slots_;
};

}  // namespace ringway
