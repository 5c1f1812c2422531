// Consistent hashing over a pool's backends, keyed by backend *name* (never by position in the
// file), so every ringway instance maps a key to the same backend.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::lb {

// 64-bit hash of a key (XXH3 with a fixed seed): the same on every platform and instance.
uint64_t hash_bytes(std::string_view bytes);

struct BackendEntry {
  std::string name;     // identity on the ring
  uint32_t weight = 1;  // >= 1
  bool backup = false;  // used only when no primary backend is usable
};

// What the caller knows right now about each backend, indexed like the entries given to the table.
// Pointers to each counter of `counters`, for LiveView::active (tests and benchmarks).
template <class Counters>
std::vector<const std::atomic<uint32_t>*> counter_pointers(const Counters& counters) {
  std::vector<const std::atomic<uint32_t>*> out;
  for (const auto& c : counters) out.push_back(&c);
  return out;
}

struct LiveView {
  // usable[i] != 0: backend i may take a new connection (up, not draining, not ejected, not
  // already tried by this request).
  std::span<const uint8_t> usable;
  // Live connections per backend, for bounded loads; empty = no bounded loads.
  // One pointer per backend: the counters live with each backend's run-time state, which outlives
  // any one configuration (a reload keeps it), so the table never owns them.
  std::span<const std::atomic<uint32_t>* const> active;
  // balance_factor > 1.0 enables bounded loads; 0 disables. A backend is passed over while
  // active >= ceil(factor * (total + 1) / usable), total and usable taken over the usable backends
  // of the tier picked from (lb/bounded_load.h). Summing them is one pass over the tier per pick:
  // the only O(N) part of pick, paid only with bounded loads on.
  double balance_factor = 0.0;
};

// Built once per configuration, immutable afterwards; lookups are const and thread-safe.
//
// A Maglev-style slot table per tier (primaries, backups): prime size on a ladder, about 1024
// slots per backend, max/mean share <= 1.03 (lb/slot_table.h has the fill and why). pick() looks
// the key up; when that slot's backend is not usable (or is full under bounded loads) it rehashes
// the key with the attempt number and looks up again, up to kMaxProbes times, then scans the
// tier's backends in name order from a key-derived start. The walk depends only on the key and
// the table, so a backend going down moves only its own keys, spread over the others in
// proportion to their slots (weights), and they come back when it does.
class SelectionTable {
 public:
  // Rehashed lookups before the deterministic scan: with half the table unusable the scan is
  // reached by 2^-33 of keys; it only matters when nearly every backend is down or full.
  static constexpr uint32_t kMaxProbes = 32;

  // Entries in any order; the table depends only on the set of (name, weight, backup).
  explicit SelectionTable(std::vector<BackendEntry> entries);
  ~SelectionTable();
  SelectionTable(SelectionTable&&) noexcept;
  SelectionTable& operator=(SelectionTable&&) noexcept;

  // The backend (index into the constructor's entries, in the caller's order) for this key hash,
  // skipping unusable ones so that only their keys move; primaries first, backups only when no
  // primary is usable. nullopt when none is usable.
  std::optional<uint32_t> pick(uint64_t key_hash, const LiveView& live) const;

  // Number of backends (entries), primaries and backups together.
  size_t size() const;

  // Why these entries cannot form a table (empty or duplicate name, weight outside [1, 65535],
  // more than 65535 backends, more than 41943 weight units per tier, i.e. sum(weight) /
  // gcd(weights), so that each unit owns at least 100 slots of the largest table), or nullopt. The
  // constructor throws std::invalid_argument with this text; the config checker calls it first.
  static std::optional<std::string> validate(std::span<const BackendEntry> entries);

  // Diagnostics (admin, tests, lbbench): the primaries' and backups' lookup tables, each slot an
  // index in the caller's order; empty when the tier has no backends.
  std::span<const uint16_t> primary_slots() const;
  std::span<const uint16_t> backup_slots() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringway::lb
