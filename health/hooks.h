// What proxy/ tells health/, one call per event, from any worker: a new backend, a connect that
// failed or worked, a backend that reset an established connection. Each hook applies the pool's
// policy (passive ejection, initial health) and logs what changed.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "conf/config.h"
#include "health/backend_state.h"

namespace ringway::health {

// A backend that did not exist before (at start, or added by a reload): with active checks it
// takes no traffic until its first successful check.
void on_backend_created(BackendState& state, const conf::Pool& pool);

// A connect to the backend failed (`error`: "connection refused", "timeout", ...), or the backend
// reset an established connection (`error` "reset: ..."). May eject the backend (logged).
void on_backend_failure(BackendState& state, const std::optional<conf::Passive>& passive, uint64_t now_ms,
                        std::string_view pool, std::string_view backend, std::string_view error);
// A connect to the backend worked.
void on_backend_connected(BackendState& state);

}  // namespace ringway::health
