// Passive ejection (pure: the caller passes the time). `failures` consecutive connect failures or
// resets take a backend out of rotation for `eject_for`; after that it gets traffic again, on
// probation: one more failure before a success ejects it again at once. A success (a connect that
// worked) clears the count. Failures reported while the backend is out (connects started before
// the ejection) are ignored, so they do not stretch it.
//
// Workers report concurrently, so the state is atomics only (BackendState): the ejection itself is
// a compare-and-swap, taken by exactly one reporter.
#pragma once

#include <cstdint>

#include "conf/config.h"
#include "health/backend_state.h"

namespace ringway::health {

// Returns true when this failure ejected the backend (until now_ms + eject_for).
bool record_failure(BackendState& state, const conf::Passive& passive, uint64_t now_ms);
void record_success(BackendState& state);
// Whether the backend is out of rotation right now, and for how much longer.
bool is_ejected(const BackendState& state, uint64_t now_ms);
uint64_t ejected_for_ms(const BackendState& state, uint64_t now_ms);
// Passive ejection turned off by a reload: the backend is back at once, with a clean count.
void clear_ejection(BackendState& state);

}  // namespace ringway::health
