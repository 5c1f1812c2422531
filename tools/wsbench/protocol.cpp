#include "tools/wsbench/protocol.h"

#include <openssl/evp.h>

#include <cstring>

namespace wsbench {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string base64(std::span<const uint8_t> bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16U) | (uint32_t{bytes[i + 1]} << 8U) | bytes[i + 2];
    out += kAlphabet[(v >> 18U) & 63U];
    out += kAlphabet[(v >> 12U) & 63U];
    out += kAlphabet[(v >> 6U) & 63U];
    out += kAlphabet[v & 63U];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    uint32_t v = uint32_t{bytes[i]} << 16U;
    if (rest == 2) {
      v |= uint32_t{bytes[i + 1]} << 8U;
    }
    out += kAlphabet[(v >> 18U) & 63U];
    out += kAlphabet[(v >> 12U) & 63U];
    out += rest == 2 ? kAlphabet[(v >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

std::string websocket_accept(std::string_view key) {
  std::string input(key);
  input += kGuid;
  std::array<uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha1(), nullptr);
  return base64(std::span(digest.data(), length));
}

std::string upgrade_request(std::string_view host_header, std::string_view path, std::string_view key,
                            const std::vector<std::string>& extra_headers) {
  std::string out;
  out.reserve(256);
  out += "GET ";
  out += path;
  out += " HTTP/1.1\r\nHost: ";
  out += host_header;
  out += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  out += key;
  out += "\r\nSec-WebSocket-Version: 13\r\n";
  for (const auto& h : extra_headers) {
    out += h;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

ResponseCheck check_response(std::string_view input, std::string_view expected_accept) {
  ResponseCheck out;
  const auto end = input.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return out;
  }
  out.consumed = end + 4;
  std::string_view head = input.substr(0, end + 2);
  const auto line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  head.remove_prefix(line_end + 2);
  out.status = HeadCheck::Refused;
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.1 ")) {
    out.error = "bad status line: " + std::string(status_line.substr(0, 80));
    return out;
  }
  out.http_status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  if (out.http_status != 101) {
    out.error = std::string(status_line.substr(0, 80));
    return out;
  }
  bool upgrade = false;
  bool connection = false;
  std::string_view accept;
  while (!head.empty()) {
    const auto eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Upgrade")) {
      upgrade = iequals(value, "websocket");
    } else if (iequals(name, "Connection")) {
      connection = has_token(value, "upgrade");
    } else if (iequals(name, "Sec-WebSocket-Accept")) {
      accept = value;
    }
  }
  if (!upgrade || !connection) {
    out.error = "101 without Upgrade: websocket and Connection: upgrade";
  } else if (accept != expected_accept) {
    out.error = "101 with a wrong Sec-WebSocket-Accept";
  } else {
    out.status = HeadCheck::Upgraded;
  }
  return out;
}

DecodeStatus decode_header(std::span<const uint8_t> input, FrameHeader& h) {
  if (input.size() < 2) {
    return DecodeStatus::NeedMore;
  }
  h.fin = (input[0] & 0x80U) != 0;
  h.rsv = static_cast<uint8_t>((input[0] >> 4U) & 0x7U);
  h.opcode = static_cast<uint8_t>(input[0] & 0x0FU);
  h.masked = (input[1] & 0x80U) != 0;
  const uint8_t len7 = input[1] & 0x7FU;
  std::size_t pos = 2;
  if (len7 == 126) {
    if (input.size() < 4) {
      return DecodeStatus::NeedMore;
    }
    h.payload_length = (uint64_t{input[2]} << 8U) | input[3];
    pos = 4;
  } else if (len7 == 127) {
    if (input.size() < 10) {
      return DecodeStatus::NeedMore;
    }
    h.payload_length = 0;
    for (std::size_t i = 2; i < 10; ++i) {
      h.payload_length = (h.payload_length << 8U) | input[i];
    }
    if ((h.payload_length >> 63U) != 0) {
      return DecodeStatus::Invalid;
    }
    pos = 10;
  } else {
    h.payload_length = len7;
  }
  if (h.masked) {
    if (input.size() < pos + 4) {
      return DecodeStatus::NeedMore;
    }
    pos += 4;
  }
  h.header_size = pos;
  return DecodeStatus::Ok;
}

void append_frame(std::string& out, uint8_t op, std::span<const uint8_t> payload, uint32_t mask_key) {
  const std::size_t n = payload.size();
  const std::size_t start = out.size();
  std::size_t header = 2 + 4;
  if (n >= 65536) {
    header += 8;
  } else if (n >= 126) {
    header += 2;
  }
  out.resize(start + header + n);
  auto* p = reinterpret_cast<uint8_t*>(out.data() + start);
  p[0] = static_cast<uint8_t>(0x80U | op);
  std::size_t pos = 2;
  if (n >= 65536) {
    p[1] = 0x80U | 127U;
    for (int i = 7; i >= 0; --i) {
      p[pos++] = static_cast<uint8_t>((static_cast<uint64_t>(n) >> (8U * static_cast<unsigned>(i))) & 0xFFU);
    }
  } else if (n >= 126) {
    p[1] = 0x80U | 126U;
    p[pos++] = static_cast<uint8_t>(n >> 8U);
    p[pos++] = static_cast<uint8_t>(n & 0xFFU);
  } else {
    p[1] = static_cast<uint8_t>(0x80U | n);
  }
  const std::array<uint8_t, 4> mask = {static_cast<uint8_t>(mask_key >> 24U), static_cast<uint8_t>(mask_key >> 16U),
                                       static_cast<uint8_t>(mask_key >> 8U), static_cast<uint8_t>(mask_key)};
  std::memcpy(p + pos, mask.data(), 4);
  pos += 4;
  uint8_t* dst = p + pos;
  // Eight bytes at a time: the mask repeated twice, since 8 is a multiple of 4.
  uint64_t wide = 0;
  std::memcpy(&wide, mask.data(), 4);
  std::memcpy(reinterpret_cast<uint8_t*>(&wide) + 4, mask.data(), 4);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = 0;
    std::memcpy(&v, payload.data() + i, 8);
    v ^= wide;
    std::memcpy(dst + i, &v, 8);
  }
  for (; i < n; ++i) {
    dst[i] = payload[i] ^ mask[i & 3U];
  }
}

std::array<uint8_t, 2> close_code_bytes(uint16_t code) {
  return {static_cast<uint8_t>(code >> 8U), static_cast<uint8_t>(code & 0xFFU)};
}

}  // namespace wsbench
