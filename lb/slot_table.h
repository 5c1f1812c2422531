// The lookup table behind SelectionTable: which backend owns each slot, built by a
// capacity-bounded "rank fill", a Maglev variant chosen for its behaviour on configuration change.
//
// As in Maglev (Eisenbud et al., NSDI 2016; Katran's MaglevBase, Envoy's maglev), the table size M
// is prime and every walker (a backend, or one unit of a weighted backend) visits the slots in its
// own permutation, offset + j * skip (mod M), both derived from the backend name alone; rounds give
// every walker one visit each, in name order. Two differences:
//  * A walker whose slot is already taken simply loses its turn (Maglev walks on until it finds a
//    free slot). So slot s goes to the walker that reaches it first, min over walkers of its rank
//    j_w(s): rendezvous hashing on ranks, which moves only a removed backend's slots.
//  * A backend stops once it holds its capacity, floor(1.029 * M * weight / total_weight + d)
//  slots,
//    d in [0, 1) derived from its name, which bounds the max/mean share by 1.03 when backends own
//    >= 1000 slots. Only backends that reach it (a minority at ~1000 slots each) cause moves beyond
//    the ideal on a configuration change. The dither d keeps capacities from all stepping by the
//    same rounded amount at once: with equal weights, a plain floor could shift every capacity by
//    2 slots on one change and by 0 on the next.
// Measured on 1000 backends: plain Maglev at 131071 slots moves 6.4x the ideal share of keys when
// one backend is removed; this fill at 1048583 slots moves ~1.07x (tools/lbbench).
//
// Pure and deterministic: integer arithmetic only, members sorted by name, named seeds.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace ringway::lb::slot_table {

// Validation floor: at least this many slots per walker (so per unit of weight), as Katran and
// Envoy recommend for Maglev.
inline constexpr uint64_t kMinSlotsPerWalker = 100;
// Quality target: with ~1000 slots per backend the per-backend demand varies by ~3%, so few
// backends reach the 1.03 bound, and those cause the extra moves.
inline constexpr uint64_t kTargetSlotsPerBackend = 1024;
// A backend may own at most 102.9% of its weighted share of the table, plus the dither (< 1 slot).
inline constexpr uint64_t kCapacityPerMille = 1029;
// Sizes sit on a ladder, the smallest prime >= 2^k: a size change remaps every key, so it must
// not happen on every added backend, only when the pool doubles.
inline constexpr unsigned kMinLadderStep = 16;  // 65537 slots
inline constexpr unsigned kMaxLadderStep = 22;  // 4194319 slots (8 MiB of uint16)
inline constexpr uint32_t kMaxWeight = 65535;

// Slots hold a member id; this many members at most (uint16 slots halve the table's cache
// footprint; the validation floor already limits a pool to 41943 walkers).
inline constexpr uint32_t kMaxMembers = 65535;

struct Member {
  std::string_view name;  // identity: permutations derive from it alone
  uint32_t weight = 1;    // [1, kMaxWeight]
  uint16_t id = 0;        // what the table stores for this member's slots
};

bool is_prime(uint64_t n);
uint64_t prime_at_least(uint64_t n);

// Walkers of these members: sum of weights over their greatest common divisor.
uint64_t walker_count(std::span<const Member> members);

// The table size: the smallest ladder prime that gives every walker kMinSlotsPerWalker slots and,
// when the ladder allows, every member kTargetSlotsPerBackend; nullopt when even the largest size
// misses the floor. Depends only on the multiset of weights.
std::optional<uint32_t> table_size_for(std::span<const Member> members);

// The most slots a member may own (the capacity rule above), its weight and the total given in
// walker units (weight / gcd of all weights). Needs units * kMinSlotsPerWalker <= table_size <
// 2^23, which table_size_for guarantees.
uint32_t capacity(std::string_view name, uint64_t units, uint64_t total_units, uint32_t table_size);

// Builds the table of `table_size` slots (prime, from table_size_for). Members sorted by name,
// at most kMaxMembers, sizes validated by table_size_for.
//
// Once few slots are free, simulating rounds mostly visits taken slots (the last free slots cost
// O(M log M) visits), so the rest is resolved by computing, for each free slot, its next visitor
// from the walkers' modular inverses. That only changes speed: `allow_tail_switch = false` runs
// the rounds to the end, and tests check that both give the same table.
std::vector<uint16_t> build(std::span<const Member> members, uint32_t table_size,
                            bool allow_tail_switch = true);

}  // namespace ringway::lb::slot_table
