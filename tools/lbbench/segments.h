// Exact ownership of the hash space, for shares and disruption without sampling noise. Both
// algorithms place a key by 32 bits of its hash (ringway: the high half, via multiply-shift;
// ketama: the CRC32), so ownership is a list of intervals of [0, 2^32).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ketama.h"
#include "lb/selector.h"

namespace lbbench {

inline constexpr uint64_t kSpace = uint64_t{1} << 32U;

struct Segment {
  uint64_t end;    // covers [previous segment's end, end)
  uint32_t owner;  // a stable backend id (not a position in a configuration)
};

// `ids` maps the caller's entry index to a stable backend id.
std::vector<Segment> segments_of(const ringway::lb::SelectionTable& table,
                                 std::span<const uint32_t> ids);
std::vector<Segment> segments_of(const KetamaRing& ring, std::span<const uint32_t> ids);

// Fraction of the hash space owned by each id (size id_count).
std::vector<double> shares(std::span<const Segment> segments, size_t id_count);

// Fraction of the hash space whose owner differs between two layouts.
double moved_fraction(std::span<const Segment> a, std::span<const Segment> b);

}  // namespace lbbench
