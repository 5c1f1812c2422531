#include "health/rise_fall.h"

#include <algorithm>

namespace ringway::health {

RiseFall::RiseFall(uint32_t rise, uint32_t fall, Health start)
    : rise_(std::max<uint32_t>(rise, 1)), fall_(std::max<uint32_t>(fall, 1)), health_(start) {}

bool RiseFall::record(bool ok) {
  const Health before = health_;
  if (ok) {
    failures_ = 0;
    ++successes_;
    if (health_ == Health::Unknown || (health_ == Health::Down && successes_ >= rise_)) {
      health_ = Health::Up;
    }
  } else {
    successes_ = 0;
    ++failures_;
    if (health_ == Health::Unknown || (health_ == Health::Up && failures_ >= fall_)) {
      health_ = Health::Down;
    }
  }
  if (health_ != before) {
    successes_ = 0;
    failures_ = 0;
  }
  return health_ != before;
}

const char* to_string(Health health) {
  switch (health) {
    case Health::Unknown: return "unknown";
    case Health::Up: return "up";
    case Health::Down: return "down";
  }
  return "unknown";
}

}  // namespace ringway::health
