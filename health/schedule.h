// When each backend is checked: the first check at a random moment within the interval (so that a
// start or a reload does not probe every backend in the same millisecond), then every interval
// with +-10% jitter (so that checks started together drift apart and stay apart).
#pragma once

#include <cstdint>
#include <random>

namespace ringway::health {

class Schedule {
 public:
  explicit Schedule(uint64_t seed) : rng_(seed) {}

  // Uniform in [0, interval_ms).
  uint64_t first_delay(uint64_t interval_ms);
  // Uniform in [0.9 * interval_ms, 1.1 * interval_ms], at least 1 ms.
  uint64_t next_delay(uint64_t interval_ms);
  // Random bytes for WebSocket keys, masks and ping payloads (not secrets: nothing to guess here).
  uint64_t bits() { return rng_(); }

 private:
  std::mt19937_64 rng_;
};

}  // namespace ringway::health
