#include "health/hooks.h"

#include <string>

#include "health/log_sink.h"
#include "health/passive.h"

namespace ringway::health {

void on_backend_created(BackendState& state, const conf::Pool& pool) {
  state.health.store(pool.health_check ? Health::Unknown : Health::Up, std::memory_order_relaxed);
}

void on_backend_failure(BackendState& state, const std::optional<conf::Passive>& passive, uint64_t now_ms,
                        std::string_view pool, std::string_view backend, std::string_view error) {
  if (!passive) return;
  const uint32_t run = state.consecutive_failures.load(std::memory_order_relaxed) + 1;
  if (!record_failure(state, *passive, now_ms)) return;
  emit(LogLevel::Warn, "backend ejected",
       {{"pool", std::string(pool)},
        {"backend", std::string(backend)},
        {"reason", std::string(error)},
        {"consecutive_failures", std::to_string(run)},
        {"eject_for_ms", std::to_string(passive->eject_for.count())},
        {"ejections", std::to_string(state.ejections.load(std::memory_order_relaxed))}});
}

void on_backend_connected(BackendState& state) { record_success(state); }

}  // namespace ringway::health
