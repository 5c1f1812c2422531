// What the last active check of a backend found, for /status and the logs: written by the checker
// on the control loop, read by the admin endpoint. A reason is text ("connect refused", "status
// 503", "no pong"), so it sits behind a mutex rather than in atomics; nobody on the data path
// touches it.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace ringway::health {

struct CheckSnapshot {
  std::string last;           // "ok", the reason of the last failure, or "" before the first check
  int64_t since_unix_ms = 0;  // when the backend's health last changed (0: never)
  uint64_t checks = 0;        // checks finished so far
};

// "2026-01-31T12:00:00.123Z" (UTC), for /status.
std::string utc_text(int64_t unix_ms);

class CheckRecord {
 public:
  void record(std::string last, bool health_changed, int64_t now_unix_ms) {
    const std::lock_guard lock(mutex_);
    snapshot_.last = std::move(last);
    ++snapshot_.checks;
    if (health_changed || snapshot_.since_unix_ms == 0) snapshot_.since_unix_ms = now_unix_ms;
  }
  // The health changed for another reason than a check (checks started, stopped or restarted).
  void mark_change(int64_t now_unix_ms) {
    const std::lock_guard lock(mutex_);
    snapshot_.since_unix_ms = now_unix_ms;
  }
  CheckSnapshot snapshot() const {
    const std::lock_guard lock(mutex_);
    return snapshot_;
  }

 private:
  mutable std::mutex mutex_;
  CheckSnapshot snapshot_;
};

}  // namespace ringway::health
