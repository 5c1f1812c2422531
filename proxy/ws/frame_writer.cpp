// Building ringway's own frames (Close on drain and shutdown, Ping for keepalive). Always FIN, no RSV
// bits, minimal length encoding: exactly what the tracker on the other side accepts.
#include <algorithm>

#include "proxy/ws/frame_tracker.h"

namespace ringway::ws {
namespace {

constexpr size_t kMaxCloseReason = 123;  // 125 payload bytes minus the 2-byte code

// Cuts `reason` to at most `limit` bytes without splitting a UTF-8 sequence: a Close reason must be
// valid UTF-8, or the peer fails the connection with 1007 instead of reading our code.
std::string_view cut_utf8(std::string_view reason, size_t limit) {
  if (reason.size() <= limit) return reason;
  size_t end = limit;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that did not fit.
  while (end > 0 && (static_cast<uint8_t>(reason[end]) & 0xC0) == 0x80) --end;
  return reason.substr(0, end);
}

}  // namespace

size_t frame_size(size_t payload_size, bool masked) {
  size_t size = 2 + (masked ? 4 : 0);
  if (payload_size > 0xFFFF) {
    size += 8;
  } else if (payload_size >= 126) {
    size += 2;
  }
  return size + payload_size;
}

size_t write_frame(std::span<uint8_t> out, Opcode opcode, std::span<const uint8_t> payload,
                   const std::array<uint8_t, 4>* mask) {
  const auto op = static_cast<uint8_t>(opcode);
  const size_t total = frame_size(payload.size(), mask != nullptr);
  if (out.size() < total || (is_control(op) && payload.size() > 125)) return 0;

  size_t pos = 0;
  out[pos++] = static_cast<uint8_t>(0x80 | op);
  const uint8_t mask_bit = mask != nullptr ? 0x80 : 0;
  const uint64_t length = payload.size();
  if (length > 0xFFFF) {
    out[pos++] = mask_bit | 127;
    for (int shift = 56; shift >= 0; shift -= 8) out[pos++] = static_cast<uint8_t>(length >> shift);
  } else if (length >= 126) {
    out[pos++] = mask_bit | 126;
    out[pos++] = static_cast<uint8_t>(length >> 8);
    out[pos++] = static_cast<uint8_t>(length);
  } else {
    out[pos++] = static_cast<uint8_t>(mask_bit | length);
  }
  if (mask != nullptr) {
    std::copy(mask->begin(), mask->end(), out.begin() + static_cast<std::ptrdiff_t>(pos));
    pos += 4;
  }
  const std::span<uint8_t> body = out.subspan(pos, payload.size());
  std::copy(payload.begin(), payload.end(), body.begin());
  if (mask != nullptr) unmask(body, *mask, 0);  // masking and unmasking are the same XOR
  return total;
}

size_t write_close_frame(std::span<uint8_t> out, uint16_t code, std::string_view reason,
                         const std::array<uint8_t, 4>* mask) {
  const std::string_view text = cut_utf8(reason, kMaxCloseReason);
  std::array<uint8_t, 125> payload{};
  payload[0] = static_cast<uint8_t>(code >> 8);
  payload[1] = static_cast<uint8_t>(code);
  std::copy(text.begin(), text.end(), payload.begin() + 2);
  return write_frame(out, Opcode::Close, std::span<const uint8_t>(payload.data(), 2 + text.size()),
                     mask);
}

}  // namespace ringway::ws
