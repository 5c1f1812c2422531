// Reference only: a ketama ring as NGINX `hash ... consistent` builds it (160 points per weight
// unit, CRC32 of the server identity chained over the previous point, CRC32 of the key, first point
// at or after the key hash), with NGINX's walk to the next point for a down or full server.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "lb/selector.h"

namespace lbbench {

uint32_t crc32(std::string_view bytes);

class KetamaRing {
 public:
  static constexpr uint32_t kPointsPerWeight = 160;

  explicit KetamaRing(const std::vector<ringway::lb::BackendEntry>& entries);

  static uint64_t hash_key(std::string_view key) { return crc32(key); }

  // Same contract as SelectionTable::pick (the low 32 bits of key_hash are the ring position),
  // including bounded loads: walk the ring to the next point whose server is usable and not full.
  std::optional<uint32_t> pick(uint64_t key_hash, const ringway::lb::LiveView& live) const;

  struct Point {
    uint32_t hash;
    uint32_t backend;  // caller index
  };
  const std::vector<Point>& points() const { return points_; }

 private:
  std::vector<Point> points_;  // sorted by hash, duplicates removed
  size_t backend_count_ = 0;
};

}  // namespace lbbench
