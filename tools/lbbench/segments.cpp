#include "segments.h"

namespace lbbench {

std::vector<Segment> segments_of(const ringway::lb::SelectionTable& table,
                                 std::span<const uint32_t> ids) {
  const auto slots = table.primary_slots();
  const uint64_t m = slots.size();
  std::vector<Segment> out;
  out.reserve(m);
  for (uint64_t s = 0; s < m; ++s) {
    // probe::reduce maps high half `hi` to slot s iff s * 2^32 <= hi * m < (s + 1) * 2^32.
    out.push_back(Segment{((s + 1) * kSpace + m - 1) / m, ids[slots[s]]});
  }
  return out;
}

std::vector<Segment> segments_of(const KetamaRing& ring, std::span<const uint32_t> ids) {
  const auto& points = ring.points();
  std::vector<Segment> out;
  out.reserve(points.size() + 1);
  for (const auto& p : points) {
    out.push_back(Segment{uint64_t{p.hash} + 1, ids[p.backend]});  // first point >= key hash
  }
  if (!points.empty()) {
    out.push_back(Segment{kSpace, ids[points.front().backend]});  // wraps to the first point
  }
  return out;
}

std::vector<double> shares(std::span<const Segment> segments, size_t id_count) {
  std::vector<double> out(id_count, 0.0);
  uint64_t begin = 0;
  for (const Segment& s : segments) {
    out[s.owner] += static_cast<double>(s.end - begin) / static_cast<double>(kSpace);
    begin = s.end;
  }
  return out;
}

double moved_fraction(std::span<const Segment> a, std::span<const Segment> b) {
  uint64_t pos = 0;
  uint64_t moved = 0;
  size_t i = 0;
  size_t j = 0;
  while (pos < kSpace && i < a.size() && j < b.size()) {
    const uint64_t end = std::min(a[i].end, b[j].end);
    if (end > pos && a[i].owner != b[j].owner) {
      moved += end - pos;
    }
    pos = std::max(pos, end);
    if (a[i].end <= pos) {
      ++i;
    }
    if (j < b.size() && b[j].end <= pos) {
      ++j;
    }
  }
  return static_cast<double>(moved) / static_cast<double>(kSpace);
}

}  // namespace lbbench
