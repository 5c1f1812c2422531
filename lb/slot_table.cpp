#include "lb/slot_table.h"

#include <xxhash.h>

#include <bit>
#include <cassert>
#include <functional>
#include <numeric>
#include <queue>
#include <utility>

namespace ringway::lb::slot_table {
namespace {

// Named seeds: walker k of a backend starts at XXH3(name, kOffsetSeed + k) mod M and steps by
// XXH3(name, kSkipSeed + k) mod (M - 1) + 1.
constexpr XXH64_hash_t kOffsetSeed = 0x72696e672d6f6666ULL;  // "ring-off"
constexpr XXH64_hash_t kSkipSeed = 0x72696e672d736b70ULL;    // "ring-skp"
constexpr XXH64_hash_t kDitherSeed = 0x72696e672d647468ULL;  // "ring-dth"
constexpr unsigned kDitherBits = 8;

// Tail entries order visits by (round, walker order): the order fits below this bit.
constexpr unsigned kOrderBits = 24;

// Rounds give way to the computed tail once free slots * walkers * this <= M. Below that point a
// round (one visit per walker) fills fewer than 1/this slots, while a computed slot costs one
// modular step per walker; measured, the build time is flat between 1 and 4.
constexpr uint64_t kTailSwitchFactor = 4;

// (a * b) mod m for a, b < m < 2^23. The product (< 2^46) is exact in a double, so the quotient
// estimate is off by at most one and the integer correction makes the result exact on every
// platform.
uint32_t mul_mod(uint64_t a, uint64_t b, uint32_t m, double inverse_m) {
  const uint64_t product = a * b;
  const auto quotient = static_cast<uint64_t>(static_cast<double>(product) * inverse_m);
  auto r = static_cast<int64_t>(product - quotient * m);
  while (r < 0) {
    r += m;
  }
  while (r >= static_cast<int64_t>(m)) {
    r -= m;
  }
  return static_cast<uint32_t>(r);
}

// a^-1 mod m (m prime, 0 < a < m), by the extended Euclidean algorithm.
uint32_t inverse_mod(uint32_t a, uint32_t m) {
  int64_t t = 0;
  int64_t new_t = 1;
  int64_t r = m;
  int64_t new_r = a;
  while (new_r != 0) {
    const int64_t q = r / new_r;
    t = std::exchange(new_t, t - q * new_t);
    r = std::exchange(new_r, r - q * new_r);
  }
  return static_cast<uint32_t>(t < 0 ? t + m : t);
}

// The fill state. Active walkers are kept in struct-of-arrays form, in walker order (members by
// name, then unit index), which is also the order of visits within a round.
class Filler {
 public:
  Filler(std::span<const Member> members, uint32_t table_size)
      : members_(members),
        size_(table_size),
        table_(table_size),
        used_((table_size + 63) / 64, 0),
        left_(members.size()) {
    uint32_t gcd = 0;
    for (const Member& m : members) {
      gcd = std::gcd(gcd, m.weight);
    }
    const uint64_t total_units = walker_count(members);
    for (uint32_t i = 0; i < members.size(); ++i) {
      const Member& m = members[i];
      left_[i] = capacity(m.name, m.weight / gcd, total_units, table_size);
      for (uint32_t k = 0; k < m.weight / gcd; ++k) {
        const uint64_t offset = XXH3_64bits_withSeed(m.name.data(), m.name.size(), kOffsetSeed + k);
        const uint64_t skip = XXH3_64bits_withSeed(m.name.data(), m.name.size(), kSkipSeed + k);
        offset_.push_back(static_cast<uint32_t>(offset % table_size));
        pos_.push_back(offset_.back());
        skip_.push_back(static_cast<uint32_t>(skip % (table_size - 1) + 1));
        member_.push_back(i);
        order_.push_back(static_cast<uint32_t>(order_.size()));
      }
    }
  }

  std::vector<uint16_t> run(bool allow_tail_switch) {
    std::vector<uint32_t> candidate(pos_.size());
    std::vector<uint32_t> candidate_slot(pos_.size());
    for (uint32_t round = 0; filled_ < size_; ++round) {
      // build() checked that the capacities cover the table, and every walker reaches every slot
      // within M rounds: someone is always left to fill what is free.
      assert(!pos_.empty() && round < size_);
      if (allow_tail_switch &&
          uint64_t{size_ - filled_} * kTailSwitchFactor * pos_.size() <= size_) {
        fill_tail(round);
        break;
      }
      // Pass 1, branch-free: where each walker lands and whether that slot looks free.
      size_t count = 0;
      for (size_t a = 0; a < pos_.size(); ++a) {
        const uint32_t p = pos_[a];
        candidate[count] = static_cast<uint32_t>(a);
        candidate_slot[count] = p;
        count += ((used_[p >> 6U] >> (p & 63U)) & 1U) ^ 1U;
        const uint32_t next = p + skip_[a];
        pos_[a] = next >= size_ ? next - size_ : next;
      }
      // Pass 2, in walker order: two walkers may land on one free slot; the first one takes it.
      bool someone_full = false;
      for (size_t c = 0; c < count; ++c) {
        const uint32_t member = member_[candidate[c]];
        if (left_[member] != 0 && take(candidate_slot[c], member)) {
          someone_full |= left_[member] == 0;
        }
      }
      if (someone_full) {
        drop_full_walkers();
      }
    }
    return std::move(table_);
  }

 private:
  bool take(uint32_t slot, uint32_t member) {
    uint64_t& word = used_[slot >> 6U];
    const uint64_t bit = uint64_t{1} << (slot & 63U);
    if ((word & bit) != 0) {
      return false;
    }
    word |= bit;
    table_[slot] = members_[member].id;
    --left_[member];
    ++filled_;
    return true;
  }

  void drop_full_walkers() {
    size_t kept = 0;
    for (size_t a = 0; a < pos_.size(); ++a) {
      if (left_[member_[a]] != 0) {
        offset_[kept] = offset_[a];
        pos_[kept] = pos_[a];
        skip_[kept] = skip_[a];
        member_[kept] = member_[a];
        order_[kept] = order_[a];
        ++kept;
      }
    }
    for (auto* v : {&offset_, &pos_, &skip_, &member_, &order_}) {
      v->resize(kept);
    }
  }

  // Rounds 0..round-1 are done. A free slot s was never visited by a still-active walker (it would
  // have taken it), so its next visit is the active walker minimising the rank
  // j_w(s) = (s - offset_w) * skip_w^-1 mod M (>= round), ties to the walker order: exactly the
  // visit the rounds would have made. Slots are settled in that order; an entry whose walker's
  // backend filled up meanwhile is recomputed (keys only grow, so the queue order stays right).
  void fill_tail([[maybe_unused]] uint32_t round) {
    std::vector<uint32_t> inverse(pos_.size());
    for (size_t a = 0; a < pos_.size(); ++a) {
      inverse[a] = inverse_mod(skip_[a], size_);
    }
    const double inverse_size = 1.0 / size_;
    struct Entry {
      uint64_t key;  // rank << kOrderBits | walker order
      uint32_t slot;
      uint32_t walker;  // index into the active arrays
      bool operator>(const Entry& o) const { return key > o.key; }
    };
    auto next_visit = [&](uint32_t slot) {
      Entry best{~uint64_t{0}, slot, 0};
      for (size_t a = 0; a < pos_.size(); ++a) {
        if (left_[member_[a]] == 0) {
          continue;
        }
        const uint32_t distance =
            slot >= offset_[a] ? slot - offset_[a] : slot + size_ - offset_[a];
        const uint32_t rank = mul_mod(distance, inverse[a], size_, inverse_size);
        assert(rank >= round);
        const uint64_t key = (uint64_t{rank} << kOrderBits) | order_[a];
        if (key < best.key) {
          best = Entry{key, slot, static_cast<uint32_t>(a)};
        }
      }
      return best;
    };
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue;
    for (uint32_t w = 0; w < used_.size(); ++w) {
      for (uint64_t free = ~used_[w]; free != 0; free &= free - 1) {
        const uint32_t slot = w * 64 + static_cast<uint32_t>(std::countr_zero(free));
        if (slot < size_) {
          queue.push(next_visit(slot));
        }
      }
    }
    while (!queue.empty()) {
      const Entry e = queue.top();
      queue.pop();
      if (left_[member_[e.walker]] == 0) {
        queue.push(next_visit(e.slot));
      } else {
        take(e.slot, member_[e.walker]);
      }
    }
  }

  std::span<const Member> members_;
  uint32_t size_;
  std::vector<uint16_t> table_;
  std::vector<uint64_t> used_;  // bitmap of taken slots: 1 bit per slot keeps the visits in cache
  std::vector<uint32_t> left_;  // per member: slots it may still take
  uint32_t filled_ = 0;
  // Active walkers.
  std::vector<uint32_t> offset_;
  std::vector<uint32_t> pos_;
  std::vector<uint32_t> skip_;
  std::vector<uint32_t> member_;
  std::vector<uint32_t> order_;
};

}  // namespace

bool is_prime(uint64_t n) {
  if (n < 2) {
    return false;
  }
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) {
      return false;
    }
  }
  return true;
}

uint64_t prime_at_least(uint64_t n) {
  while (!is_prime(n)) {
    ++n;
  }
  return n;
}

uint32_t capacity(std::string_view name, uint64_t units, uint64_t total_units,
                  uint32_t table_size) {
  // floor(share + dither) as one integer division, share = 1.029 * M * u / U and dither = d / 2^8:
  // (1029 * M * u * 2^8 + d * 1000 * U) / (1000 * U * 2^8). With M < 2^23 and u <= U <= M / 100
  // (< 2^17) every term stays below 2^59.
  const uint64_t dither =
      XXH3_64bits_withSeed(name.data(), name.size(), kDitherSeed) >> (64U - kDitherBits);
  const uint64_t denominator = 1000 * total_units;
  const uint64_t numerator =
      ((kCapacityPerMille * table_size * units) << kDitherBits) + dither * denominator;
  return static_cast<uint32_t>(numerator / (denominator << kDitherBits));
}

uint64_t walker_count(std::span<const Member> members) {
  uint64_t total = 0;
  uint32_t gcd = 0;
  for (const Member& m : members) {
    total += m.weight;
    gcd = std::gcd(gcd, m.weight);
  }
  return gcd == 0 ? 0 : total / gcd;
}

std::optional<uint32_t> table_size_for(std::span<const Member> members) {
  const uint64_t floor = kMinSlotsPerWalker * walker_count(members);
  const uint64_t target = kTargetSlotsPerBackend * members.size();
  for (unsigned step = kMinLadderStep; step <= kMaxLadderStep; ++step) {
    const uint64_t size = prime_at_least(uint64_t{1} << step);
    if (size >= floor && (size >= target || step == kMaxLadderStep)) {
      return static_cast<uint32_t>(size);
    }
  }
  return std::nullopt;
}

std::vector<uint16_t> build(std::span<const Member> members, uint32_t table_size,
                            bool allow_tail_switch) {
  if (members.empty() || table_size < 2) {
    return {};
  }
  // The sizing rules keep the arithmetic in range, and every slot must find a taker: the
  // capacities must add up to the table.
  const uint64_t total_units = walker_count(members);
  if (members.size() > kMaxMembers || table_size >= (1U << 23U) ||
      total_units * kMinSlotsPerWalker > table_size) {
    return {};
  }
  uint32_t gcd = 0;
  for (const Member& m : members) {
    gcd = std::gcd(gcd, m.weight);
  }
  uint64_t total_capacity = 0;
  for (const Member& m : members) {
    total_capacity += capacity(m.name, m.weight / gcd, total_units, table_size);
  }
  if (total_capacity < table_size) {
    return {};
  }
  return Filler(members, table_size).run(allow_tail_switch);
}

}  // namespace ringway::lb::slot_table
