#include "tools/wsecho/frame.h"

namespace wsecho {

Decoded decode_header(std::span<const uint8_t> input) {
  Decoded out;
  if (input.size() < 2) {
    return out;
  }
  FrameHeader& h = out.header;
  h.fin = (input[0] & 0x80U) != 0;
  h.rsv = static_cast<uint8_t>((input[0] >> 4U) & 0x7U);
  h.opcode = static_cast<uint8_t>(input[0] & 0x0FU);
  h.masked = (input[1] & 0x80U) != 0;
  const uint8_t len7 = input[1] & 0x7FU;
  std::size_t pos = 2;
  if (len7 == 126) {
    if (input.size() < pos + 2) {
      return out;
    }
    h.payload_length = (static_cast<uint64_t>(input[2]) << 8U) | input[3];
    pos += 2;
  } else if (len7 == 127) {
    if (input.size() < pos + 8) {
      return out;
    }
    for (std::size_t i = 0; i < 8; ++i) {
      h.payload_length = (h.payload_length << 8U) | input[pos + i];
    }
    pos += 8;
    if ((h.payload_length >> 63U) != 0) {
      out.status = DecodeStatus::Invalid;  // RFC 6455 5.2: the most significant bit MUST be 0
      return out;
    }
  } else {
    h.payload_length = len7;
  }
  if (h.masked) {
    if (input.size() < pos + 4) {
      return out;
    }
    for (std::size_t i = 0; i < 4; ++i) {
      h.mask[i] = input[pos + i];
    }
    pos += 4;
  }
  h.header_size = pos;
  out.status = DecodeStatus::Ok;
  return out;
}

void apply_mask(std::span<uint8_t> payload, const std::array<uint8_t, 4>& mask) {
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] ^= mask[i & 3U];
  }
}

std::string encode_frame(uint8_t opcode, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 10);
  out.push_back(static_cast<char>(0x80U | opcode));
  const uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>((n >> 8U) & 0xFFU));
    out.push_back(static_cast<char>(n & 0xFFU));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((n >> static_cast<unsigned>(shift)) & 0xFFU));
    }
  }
  out.append(payload);
  return out;
}

std::string close_payload(uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8U));
  out.push_back(static_cast<char>(code & 0xFFU));
  out.append(reason.substr(0, 123));
  return out;
}

}  // namespace wsecho
