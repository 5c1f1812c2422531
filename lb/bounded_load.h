// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, SODA 2018), in integer
// arithmetic so that the admission decision is exact and identical everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ringway::lb::bounded {

// The factor is used in thousandths: 1.25 -> 1250. Coarser would distort common values, finer
// buys nothing a connection count can show.
inline constexpr uint64_t kFactorScale = 1000;
// Above this the bound can never bite for realistic counts; clamping keeps the products in 64 bits.
inline constexpr double kMaxFactor = 1000.0;
// Totals are clamped so that factor * (total + 1) fits in 64 bits (2^40 connections is far beyond
// any pool; the clamp only exists so that overflow cannot happen).
inline constexpr uint64_t kMaxTotal = uint64_t{1} << 40U;

// Factor in thousandths, or 0 when bounded loads are off (factor <= 1, NaN).
inline uint64_t factor_milli(double factor) {
  if (!(factor > 1.0)) {
    return 0;
  }
  return static_cast<uint64_t>(std::llround(std::min(factor, kMaxFactor) * kFactorScale));
}

// How many connections one backend may hold once the connection being placed is counted:
//   capacity = ceil(factor * (total + 1) / usable)
// where `total` is the live connections on the `usable` backends of the tier being picked from.
// A backend is admitted while active < capacity, so after admission it holds at most
// ceil(factor * mean) with the new connection in the mean: the MTZ bound, "+1" rounding included.
// Some backend always has room: usable * capacity >= factor * (total + 1) > total.
constexpr uint64_t capacity(uint64_t total, uint64_t usable, uint64_t milli) {
  const uint64_t placed = std::min(total, kMaxTotal) + 1;
  const uint64_t denominator = kFactorScale * usable;
  return (milli * placed + denominator - 1) / denominator;
}

}  // namespace ringway::lb::bounded
