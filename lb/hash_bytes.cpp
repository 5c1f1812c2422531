// The one hash every ringway instance applies to request keys. The seed is part of the wire-level
// contract between instances: changing it moves every key, exactly like changing the algorithm.
#include <xxhash.h>

#include "lb/selector.h"

namespace ringway::lb {
namespace {
constexpr XXH64_hash_t kRequestKeySeed = 0x72696e6777617931ULL;  // "ringway1"
}  // namespace

uint64_t hash_bytes(std::string_view bytes) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), kRequestKeySeed);
}

}  // namespace ringway::lb
