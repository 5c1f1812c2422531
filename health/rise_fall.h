// The rise/fall state machine of one backend's active checks (pure: no libuv, no clock).
//
//   Unknown --ok--> Up                 a new backend takes traffic after its first good check
//   Unknown --fail--> Down             and is reported down at once (it takes none either way)
//   Up --`fall` failures in a row--> Down
//   Down --`rise` successes in a row--> Up
//
// A success resets the failure run and a failure resets the success run, so one flapping answer
// never moves a backend.
#pragma once

#include <cstdint>

#include "health/backend_state.h"

namespace ringway::health {

class RiseFall {
 public:
  // `rise` and `fall` >= 1 (the configuration checker guarantees it; 0 is taken as 1).
  RiseFall(uint32_t rise, uint32_t fall, Health start);

  // One check's result. Returns true when the health changed (health() tells the new one).
  bool record(bool ok);

  Health health() const { return health_; }
  uint32_t success_run() const { return successes_; }
  uint32_t failure_run() const { return failures_; }

 private:
  uint32_t rise_;
  uint32_t fall_;
  Health health_;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
};

const char* to_string(Health health);  // "unknown", "up", "down"

}  // namespace ringway::health
