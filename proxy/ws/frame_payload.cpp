// Reading the little that the relay needs from payloads (a Close frame's code) without copying or
// unmasking the stream itself: client payloads are passed on still masked.
#include "proxy/ws/frame_tracker.h"

namespace ringway::ws {

void unmask(std::span<uint8_t> bytes, const std::array<uint8_t, 4>& mask, uint64_t offset) {
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] ^= mask[(offset + i) & 3];
}

uint16_t close_code_from_payload(const FrameHeader& header, std::span<const uint8_t> payload) {
  CloseCodeReader reader;
  reader.add(header, payload, 0);
  return reader.code(header);
}

void CloseCodeReader::add(const FrameHeader& header, std::span<const uint8_t> bytes, uint64_t offset) {
  for (size_t i = 0; i < bytes.size() && offset + i < 2; ++i) {
    // Slices come in stream order, so offset + i is exactly the next byte we lack.
    if (offset + i != have_) return;
    uint8_t byte = bytes[i];
    if (header.masked) byte ^= header.mask[(offset + i) & 3];
    bytes_[have_++] = byte;
  }
}

uint16_t CloseCodeReader::code(const FrameHeader& header) const {
  if (header.payload_length == 0) return close_code::NoStatus;
  if (have_ < 2) return 0;
  return static_cast<uint16_t>((bytes_[0] << 8) | bytes_[1]);
}

bool is_valid_close_code(uint16_t code) {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

}  // namespace ringway::ws
