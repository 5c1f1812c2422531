#include "proxy/text_pair.h"

#include <cstring>
#include <limits>

namespace ringway {
namespace {

constexpr size_t kSizesBytes = 2 * sizeof(uint32_t);

uint32_t narrow(size_t size) {
  // A request target is bounded by the request head's limit long before this.
  constexpr size_t kMax = std::numeric_limits<uint32_t>::max();
  return static_cast<uint32_t>(size < kMax ? size : kMax);
}

}  // namespace

uint32_t TextPair::size_at(size_t index) const {
  uint32_t size = 0;
  std::memcpy(&size, block_.get() + index * sizeof(uint32_t), sizeof size);
  return size;
}

std::string_view TextPair::first() const {
  if (!block_) return {};
  return {block_.get() + kSizesBytes, size_at(0)};
}

std::string_view TextPair::second() const {
  if (!block_) return {};
  return {block_.get() + kSizesBytes + size_at(0), size_at(1)};
}

void TextPair::assign(std::string_view first, std::string_view second) {
  const uint32_t first_size = narrow(first.size());
  const uint32_t second_size = narrow(second.size());
  if (first_size == 0 && second_size == 0) {
    block_.reset();
    return;
  }
  auto block = std::make_unique_for_overwrite<char[]>(kSizesBytes + first_size + second_size);
  std::memcpy(block.get(), &first_size, sizeof first_size);
  std::memcpy(block.get() + sizeof first_size, &second_size, sizeof second_size);
  // (an empty view may have no data pointer at all, which memcpy must not be given)
  if (first_size != 0) std::memcpy(block.get() + kSizesBytes, first.data(), first_size);
  if (second_size != 0) std::memcpy(block.get() + kSizesBytes + first_size, second.data(), second_size);
  block_ = std::move(block);
}

}  // namespace ringway
