#include "health/schedule.h"

#include <algorithm>

namespace ringway::health {

uint64_t Schedule::first_delay(uint64_t interval_ms) {
  if (interval_ms <= 1) return 0;
  return std::uniform_int_distribution<uint64_t>(0, interval_ms - 1)(rng_);
}

uint64_t Schedule::next_delay(uint64_t interval_ms) {
  const uint64_t spread = interval_ms / 10;
  const uint64_t low = interval_ms - spread;
  const uint64_t delay = std::uniform_int_distribution<uint64_t>(low, interval_ms + spread)(rng_);
  return std::max<uint64_t>(delay, 1);
}

}  // namespace ringway::health
