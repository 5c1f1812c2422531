// The client side of RFC 6455 that wsbench needs, and nothing more: the upgrade request, the check of
// the 101 answer (Sec-WebSocket-Accept included), masked client frames and the decoding of server
// frame headers. Pure (no libuv) and deliberately independent of ringway's and wsecho's code, so a
// benchmark through all three is checked by three implementations.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsbench {

namespace opcode {
inline constexpr uint8_t kContinuation = 0x0;
inline constexpr uint8_t kText = 0x1;
inline constexpr uint8_t kBinary = 0x2;
inline constexpr uint8_t kClose = 0x8;
inline constexpr uint8_t kPing = 0x9;
inline constexpr uint8_t kPong = 0xA;
}  // namespace opcode

// Close code reported for a connection that ended without a Close frame (RFC 6455 7.1.5), and for a
// Close frame without a code.
inline constexpr uint16_t kCloseAbnormal = 1006;
inline constexpr uint16_t kCloseNoStatus = 1005;

std::string base64(std::span<const uint8_t> bytes);
// Sec-WebSocket-Accept for KEY (RFC 6455 4.2.2 step 5.4).
std::string websocket_accept(std::string_view key);

// The GET request head for an upgrade. EXTRA_HEADERS are complete "Name: value" lines without CRLF.
std::string upgrade_request(std::string_view host_header, std::string_view path, std::string_view key,
                            const std::vector<std::string>& extra_headers);

enum class HeadCheck : uint8_t { Incomplete, Upgraded, Refused };

struct ResponseCheck {
  HeadCheck status = HeadCheck::Incomplete;
  std::size_t consumed = 0;  // bytes of the head (when not Incomplete)
  int http_status = 0;
  std::string error;  // why it is Refused, one line
};

// Looks for a complete response head at the start of INPUT and checks that it is a valid 101 for the
// key whose accept value is EXPECTED_ACCEPT.
ResponseCheck check_response(std::string_view input, std::string_view expected_accept);

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;
  uint8_t opcode = 0;
  bool masked = false;
  uint64_t payload_length = 0;
  std::size_t header_size = 0;
};

enum class DecodeStatus : uint8_t { NeedMore, Ok, Invalid };

// Decodes a frame header at the start of INPUT (the payload need not be there yet).
DecodeStatus decode_header(std::span<const uint8_t> input, FrameHeader& out);

// Appends one masked, unfragmented client frame to OUT.
void append_frame(std::string& out, uint8_t opcode, std::span<const uint8_t> payload, uint32_t mask_key);

// The close payload of a Close frame: 2-byte code (big endian), no reason.
std::array<uint8_t, 2> close_code_bytes(uint16_t code);

}  // namespace wsbench
