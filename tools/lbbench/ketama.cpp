#include "ketama.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "lb/bounded_load.h"

namespace lbbench {
namespace {

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0 ? 0xedb88320U ^ (c >> 1U) : c >> 1U;
    }
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

// NGINX's ngx_crc32_update: works on the running (not yet inverted) value.
uint32_t crc32_update(uint32_t crc, const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    crc = kCrcTable[(crc ^ p[i]) & 0xffU] ^ (crc >> 8U);
  }
  return crc;
}

}  // namespace

uint32_t crc32(std::string_view bytes) {
  return crc32_update(0xffffffffU, bytes.data(), bytes.size()) ^ 0xffffffffU;
}

KetamaRing::KetamaRing(const std::vector<ringway::lb::BackendEntry>& entries)
    : backend_count_(entries.size()) {
  for (uint32_t i = 0; i < entries.size(); ++i) {
    // NGINX hashes "host\0port"; the backend name plays that part here.
    uint32_t base = crc32_update(0xffffffffU, entries[i].name.data(), entries[i].name.size());
    base = crc32_update(base, "", 1);
    uint32_t prev = 0;
    for (uint32_t j = 0; j < kPointsPerWeight * entries[i].weight; ++j) {
      unsigned char prev_bytes[4];
      std::memcpy(prev_bytes, &prev, sizeof prev);
      const uint32_t hash = crc32_update(base, prev_bytes, sizeof prev_bytes) ^ 0xffffffffU;
      points_.push_back(Point{hash, i});
      prev = hash;
    }
  }
  // Ties broken by name so that the reference, too, ignores configuration order.
  std::sort(points_.begin(), points_.end(), [&](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : entries[a.backend].name < entries[b.backend].name;
  });
  points_.erase(std::unique(points_.begin(), points_.end(),
                            [](const Point& a, const Point& b) { return a.hash == b.hash; }),
                points_.end());
}

std::optional<uint32_t> KetamaRing::pick(uint64_t key_hash,
                                         const ringway::lb::LiveView& live) const {
  if (points_.empty()) {
    return std::nullopt;
  }
  const auto h = static_cast<uint32_t>(key_hash);
  const auto it = std::lower_bound(points_.begin(), points_.end(), h,
                                   [](const Point& p, uint32_t v) { return p.hash < v; });
  const size_t start = static_cast<size_t>(it - points_.begin()) % points_.size();

  uint64_t capacity = 0;
  const uint64_t milli = ringway::lb::bounded::factor_milli(live.balance_factor);
  if (milli != 0 && live.active.size() >= backend_count_) {
    uint64_t total = 0;
    uint64_t usable = 0;
    for (uint32_t b = 0; b < backend_count_; ++b) {
      if (b < live.usable.size() && live.usable[b] != 0) {
        ++usable;
        total += live.active[b]->load(std::memory_order_relaxed);
      }
    }
    if (usable == 0) {
      return std::nullopt;
    }
    capacity = ringway::lb::bounded::capacity(total, usable, milli);
  }
  for (size_t i = 0; i < points_.size(); ++i) {
    const uint32_t b = points_[(start + i) % points_.size()].backend;
    if (b < live.usable.size() && live.usable[b] != 0 &&
        (capacity == 0 || live.active[b]->load(std::memory_order_relaxed) < capacity)) {
      return b;
    }
  }
  return std::nullopt;
}

}  // namespace lbbench
