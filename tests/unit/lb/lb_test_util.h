// Shared helpers for the lb/ unit tests: pools of named backends, key streams, usable masks.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "lb/probe.h"
#include "lb/selector.h"

namespace lbtest {

inline std::string backend_name(uint32_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "backend-%04u", i);
  return buf;
}

inline std::vector<ringway::lb::BackendEntry> pool(uint32_t n, uint32_t weight = 1) {
  std::vector<ringway::lb::BackendEntry> entries;
  for (uint32_t i = 0; i < n; ++i) {
    entries.push_back({backend_name(i), weight, false});
  }
  return entries;
}

// The k-th key hash of a fixed stream: uniformly spread, cheap, the same on every run.
inline uint64_t key(uint64_t k) { return ringway::lb::probe::rehash(0x5eed, k + 1); }

struct Mask {
  std::vector<uint8_t> usable;
  explicit Mask(size_t n) : usable(n, 1) {}
  Mask& down(size_t i) {
    usable[i] = 0;
    return *this;
  }
  ringway::lb::LiveView view() const { return ringway::lb::LiveView{usable, {}, 0.0}; }
};

// No backend shows up as kNone, which no test expects from a pool with a usable backend.
inline constexpr uint32_t kNone = 0xffffffffU;

inline uint32_t pick(const ringway::lb::SelectionTable& t, uint64_t h, const Mask& m) {
  return t.pick(h, m.view()).value_or(kNone);
}

}  // namespace lbtest
