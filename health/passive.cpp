#include "health/passive.h"

namespace ringway::health {

bool record_failure(BackendState& state, const conf::Passive& passive, uint64_t now_ms) {
  uint64_t until = state.ejected_until_ms.load(std::memory_order_acquire);
  if (now_ms < until) return false;
  const uint32_t run = state.consecutive_failures.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (run < passive.failures) return false;
  const uint64_t next_until = now_ms + static_cast<uint64_t>(passive.eject_for.count());
  if (!state.ejected_until_ms.compare_exchange_strong(until, next_until, std::memory_order_acq_rel)) {
    return false;  // another reporter ejected it just now
  }
  // Probation: the next failure after the return ejects again; a success clears it.
  state.consecutive_failures.store(passive.failures - 1, std::memory_order_release);
  state.ejections.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void record_success(BackendState& state) {
  if (state.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    state.consecutive_failures.store(0, std::memory_order_relaxed);
  }
}

bool is_ejected(const BackendState& state, uint64_t now_ms) {
  return now_ms < state.ejected_until_ms.load(std::memory_order_relaxed);
}

uint64_t ejected_for_ms(const BackendState& state, uint64_t now_ms) {
  const uint64_t until = state.ejected_until_ms.load(std::memory_order_relaxed);
  return now_ms < until ? until - now_ms : 0;
}

void clear_ejection(BackendState& state) {
  state.ejected_until_ms.store(0, std::memory_order_relaxed);
  state.consecutive_failures.store(0, std::memory_order_relaxed);
}

}  // namespace ringway::health
