// SelectionTable: building (once per configuration, may throw) and picking (data path: const,
// allocation-free, lock-free).
#include "lb/selector.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "lb/bounded_load.h"
#include "lb/probe.h"
#include "lb/slot_table.h"

namespace ringway::lb {
namespace {

// Admission under bounded loads for one pick in one tier; admits everyone when bounds are off.
struct Admission {
  std::span<const std::atomic<uint32_t>* const> active;
  uint64_t capacity = 0;  // 0: unbounded

  [[nodiscard]] bool admits(uint32_t backend) const {
    return capacity == 0 || active[backend]->load(std::memory_order_relaxed) < capacity;
  }
};

bool is_usable(const LiveView& live, uint32_t backend) {
  return backend < live.usable.size() && live.usable[backend] != 0;
}

// One tier (primaries or backups): its slot table and its members in name order.
struct Tier {
  std::vector<uint16_t> slots;    // caller indices
  std::vector<uint32_t> members;  // caller indices, sorted by backend name
  std::vector<uint8_t> in_tier;   // per caller index: 1 if a member

  [[nodiscard]] std::optional<uint32_t> pick(uint64_t key_hash, const LiveView& live) const;
  [[nodiscard]] Admission admission(const LiveView& live) const;
};

// The bound needs the live connections over the usable members: one pass over the caller's arrays
// in their own order (sequential, branch-free), the only O(N) step of a pick.
Admission Tier::admission(const LiveView& live) const {
  const uint64_t milli = bounded::factor_milli(live.balance_factor);
  if (milli == 0 || live.active.size() < in_tier.size()) {
    return Admission{};
  }
  const size_t n = std::min(in_tier.size(), live.usable.size());
  uint64_t total = 0;
  uint64_t usable = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t counted = static_cast<uint32_t>(live.usable[i] != 0) & in_tier[i];
    usable += counted;
    total += counted * uint64_t{live.active[i]->load(std::memory_order_relaxed)};
  }
  return Admission{live.active, bounded::capacity(total, std::max<uint64_t>(usable, 1), milli)};
}

std::optional<uint32_t> Tier::pick(uint64_t key_hash, const LiveView& live) const {
  if (members.empty()) {
    return std::nullopt;
  }
  const Admission admission = this->admission(live);

  const auto table_size = static_cast<uint32_t>(slots.size());
  uint64_t hash = key_hash;
  for (uint32_t attempt = 1; attempt <= SelectionTable::kMaxProbes + 1; ++attempt) {
    const uint32_t backend = slots[probe::reduce(hash, table_size)];
    if (is_usable(live, backend) && admission.admits(backend)) {
      return backend;
    }
    hash = probe::rehash(key_hash, attempt);
  }

  // Guard: the walk is bounded; what is left is a scan in name order from a key-derived start,
  // deterministic on every instance. A second pass ignores the bound: counters are read without a
  // snapshot, so "everyone full" can be observed, and a usable backend beats no backend.
  const auto n = static_cast<uint32_t>(members.size());
  const uint32_t start = probe::reduce(hash, n);
  for (const bool bounded : {true, false}) {
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t backend = members[(start + i) % n];
      if (is_usable(live, backend) && (!bounded || admission.admits(backend))) {
        return backend;
      }
    }
  }
  return std::nullopt;
}

Tier build_tier(const std::vector<BackendEntry>& entries, bool backup) {
  Tier tier;
  for (uint32_t i = 0; i < entries.size(); ++i) {
    if (entries[i].backup == backup) {
      tier.members.push_back(i);
    }
  }
  std::sort(tier.members.begin(), tier.members.end(),
            [&](uint32_t a, uint32_t b) { return entries[a].name < entries[b].name; });
  tier.in_tier.assign(entries.size(), 0);
  for (const uint32_t i : tier.members) {
    tier.in_tier[i] = 1;
  }
  std::vector<slot_table::Member> members;
  members.reserve(tier.members.size());
  for (const uint32_t i : tier.members) {
    members.push_back(
        slot_table::Member{entries[i].name, entries[i].weight, static_cast<uint16_t>(i)});
  }
  if (!members.empty()) {
    tier.slots = slot_table::build(members, *slot_table::table_size_for(members));
  }
  return tier;
}

// Table sizing for one tier, for validate(): only weights matter, so positions are irrelevant.
std::optional<uint32_t> tier_table_size(std::span<const BackendEntry> entries, bool backup) {
  std::vector<slot_table::Member> members;
  for (const BackendEntry& e : entries) {
    if (e.backup == backup) {
      members.push_back(slot_table::Member{e.name, e.weight, 0});
    }
  }
  return members.empty() ? std::optional<uint32_t>{1} : slot_table::table_size_for(members);
}

}  // namespace

struct SelectionTable::Impl {
  Tier primary;
  Tier backup;
  size_t entry_count = 0;  // primaries and backups
};

std::optional<std::string> SelectionTable::validate(std::span<const BackendEntry> entries) {
  std::unordered_set<std::string_view> names;
  for (const BackendEntry& e : entries) {
    if (e.name.empty()) {
      return "backend name must not be empty";
    }
    if (!names.insert(e.name).second) {
      return "duplicate backend name '" + e.name + "'";
    }
    if (e.weight < 1 || e.weight > slot_table::kMaxWeight) {
      return "backend '" + e.name + "': weight must be in [1, " +
             std::to_string(slot_table::kMaxWeight) + "], found " + std::to_string(e.weight);
    }
  }
  if (entries.size() > slot_table::kMaxMembers) {
    return "too many backends: " + std::to_string(entries.size()) + ", at most " +
           std::to_string(slot_table::kMaxMembers);
  }
  for (const bool backup : {false, true}) {
    if (!tier_table_size(entries, backup)) {
      return std::string(backup ? "backup" : "primary") +
             " backends: too many weight units for the largest table: sum(weight) / " +
             "gcd(weights) must be at most " +
             std::to_string(slot_table::prime_at_least(uint64_t{1} << slot_table::kMaxLadderStep) /
                            slot_table::kMinSlotsPerWalker) +
             " (" + std::to_string(slot_table::kMinSlotsPerWalker) +
             " table slots per unit); use fewer backends or coarser weights";
    }
  }
  return std::nullopt;
}

SelectionTable::SelectionTable(std::vector<BackendEntry> entries) {
  if (auto error = validate(entries)) {
    throw std::invalid_argument(*error);
  }
  impl_ = std::make_unique<Impl>();
  impl_->primary = build_tier(entries, false);
  impl_->backup = build_tier(entries, true);
  impl_->entry_count = entries.size();
}

SelectionTable::~SelectionTable() = default;
SelectionTable::SelectionTable(SelectionTable&&) noexcept = default;
SelectionTable& SelectionTable::operator=(SelectionTable&&) noexcept = default;

std::optional<uint32_t> SelectionTable::pick(uint64_t key_hash, const LiveView& live) const {
  if (!impl_) {
    return std::nullopt;  // moved-from
  }
  // The primaries' walk ends in nullopt only when no primary is usable: only then backups.
  if (auto backend = impl_->primary.pick(key_hash, live)) {
    return backend;
  }
  return impl_->backup.pick(key_hash, live);
}

size_t SelectionTable::size() const { return impl_ ? impl_->entry_count : 0; }

std::span<const uint16_t> SelectionTable::primary_slots() const {
  return impl_ ? std::span<const uint16_t>(impl_->primary.slots) : std::span<const uint16_t>{};
}

std::span<const uint16_t> SelectionTable::backup_slots() const {
  return impl_ ? std::span<const uint16_t>(impl_->backup.slots) : std::span<const uint16_t>{};
}

}  // namespace ringway::lb
