// WebSocket frame header decoding and server-frame encoding (RFC 6455 5.2) for wsecho. Pure: no
// libuv, so the echo server's loop code only moves bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace wsecho {

namespace opcode {
inline constexpr uint8_t kContinuation = 0x0;
inline constexpr uint8_t kText = 0x1;
inline constexpr uint8_t kBinary = 0x2;
inline constexpr uint8_t kClose = 0x8;
inline constexpr uint8_t kPing = 0x9;
inline constexpr uint8_t kPong = 0xA;
}  // namespace opcode

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;
  uint8_t opcode = 0;
  bool masked = false;
  std::array<uint8_t, 4> mask{};
  uint64_t payload_length = 0;
  std::size_t header_size = 0;
};

enum class DecodeStatus : uint8_t { NeedMore, Ok, Invalid };

struct Decoded {
  DecodeStatus status = DecodeStatus::NeedMore;
  FrameHeader header;
};

// Decodes the header at the start of INPUT; the payload need not be there yet, so callers can check
// the size limit before buffering any of it.
Decoded decode_header(std::span<const uint8_t> input);

// XOR with the 4-byte key, in place (masking and unmasking are the same operation).
void apply_mask(std::span<uint8_t> payload, const std::array<uint8_t, 4>& mask);

// One unfragmented, unmasked (server-to-client) frame, header and payload in one buffer so that it
// can go out in a single write.
std::string encode_frame(uint8_t opcode, std::string_view payload);

// Close payload: 2-byte code, then the UTF-8 reason (truncated so the frame stays <= 125 bytes).
std::string close_payload(uint16_t code, std::string_view reason);

}  // namespace wsecho
