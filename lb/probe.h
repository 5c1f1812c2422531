// Integer helpers of the lookup path, kept apart so that the table, the tests and the benchmark use
// exactly the same arithmetic (instances must agree bit for bit).
#pragma once

#include <cstdint>

namespace ringway::lb::probe {

// Maps a 64-bit hash onto [0, n) by multiply-shift on its high 32 bits (Lemire's "fastrange"):
// no division on the hot path. n < 2^32; each result covers floor or ceil of 2^32/n hash values,
// a relative bias below 0.1% for the largest table (2^22 slots).
constexpr uint32_t reduce(uint64_t hash, uint32_t n) {
  return static_cast<uint32_t>(((hash >> 32U) * n) >> 32U);
}

// The hash of the attempt-th probe for a key (attempt >= 1): a splitmix64 step over the key hash,
// so that keys sharing a slot still walk different, independent sequences, and the walk is a pure
// function of the key (a backend's return gives back exactly the keys that left it).
constexpr uint64_t rehash(uint64_t key_hash, uint64_t attempt) {
  constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  uint64_t z = key_hash + attempt * kGolden;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31U);
}

}  // namespace ringway::lb::probe
