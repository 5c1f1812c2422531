#include "proxy/http/proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace ringway::proxyproto {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";

ProxyHeaderParse invalid(std::string_view reason, uint8_t version) {
  ProxyHeaderParse out;
  out.status = ParseStatus::Invalid;
  out.reason = reason;
  out.version = version;
  return out;
}

// True when the first bytes agree with `expected` as far as they go.
bool prefix_matches(std::span<const uint8_t> bytes, std::string_view expected) {
  const size_t n = std::min(bytes.size(), expected.size());
  return std::memcmp(bytes.data(), expected.data(), n) == 0;
}

// A v1 port: decimal 0-65535 without a leading zero (the spec's form; anything else is not what a
// balancer writes).
bool parse_port(std::string_view text, uint16_t& out) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  uint32_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  out = static_cast<uint16_t>(value);
  return true;
}

// One v1 address of `family` with its port, into `out` (inet_pton: strict dotted quads, RFC 4291
// text for IPv6).
bool parse_address(int family, std::string_view ip, std::string_view port, sockaddr_storage& out) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  uint16_t port_number = 0;
  if (ip.empty() || ip.size() >= text.size() || !parse_port(port, port_number)) return false;
  std::memcpy(text.data(), ip.data(), ip.size());
  out = {};
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port_number);
    return ::inet_pton(AF_INET, text.data(), &v4->sin_addr) == 1;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port_number);
  return ::inet_pton(AF_INET6, text.data(), &v6->sin6_addr) == 1;
}

// "TCP4 192.0.2.1 198.51.100.1 56324 443" or "UNKNOWN ...": the line after "PROXY ", CRLF excluded.
ProxyHeaderParse parse_v1_line(std::string_view line, size_t consumed) {
  ProxyHeaderParse out;
  out.version = 1;
  out.consumed = consumed;
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) {
    out.status = ParseStatus::Complete;  // the rest of an UNKNOWN line is ignored (spec 2.1)
    out.local = true;
    return out;
  }
  // Exactly five fields, one space apart (empty fields fail their own checks below).
  std::array<std::string_view, 5> fields;
  size_t count = 0;
  for (;;) {
    const size_t space = line.find(' ');
    if (count == fields.size()) return invalid("PROXY v1: expected 5 fields after PROXY", 1);
    fields[count++] = line.substr(0, space);
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  if (count != fields.size()) return invalid("PROXY v1: expected 5 fields after PROXY", 1);
  if (fields[0] == "TCP4") {
    out.family = AF_INET;
  } else if (fields[0] == "TCP6") {
    out.family = AF_INET6;
  } else {
    return invalid("PROXY v1: unknown protocol (TCP4, TCP6 or UNKNOWN)", 1);
  }
  if (!parse_address(out.family, fields[1], fields[3], out.source) ||
      !parse_address(out.family, fields[2], fields[4], out.destination)) {
    return invalid("PROXY v1: bad address or port", 1);
  }
  out.status = ParseStatus::Complete;
  return out;
}

ProxyHeaderParse parse_v1(std::span<const uint8_t> bytes) {
  if (!prefix_matches(bytes, kV1Prefix)) return invalid("not a PROXY protocol header", 0);
  const size_t limit = std::min(bytes.size(), kMaxV1Size);
  for (size_t i = 0; i < limit; ++i) {
    const uint8_t c = bytes[i];
    if (c == '\n') return invalid("PROXY v1: line feed without carriage return", 1);
    if (c != '\r') {
      if (c < 0x20 || c > 0x7e) return invalid("PROXY v1: control or non-ASCII byte", 1);
      continue;
    }
    if (i + 1 >= kMaxV1Size) break;        // the LF would be byte 108
    if (i + 1 >= bytes.size()) return {};  // NeedMore: the LF may come
    if (bytes[i + 1] != '\n') return invalid("PROXY v1: carriage return without line feed", 1);
    const std::string_view line(reinterpret_cast<const char*>(bytes.data()), i);
    return parse_v1_line(line.substr(kV1Prefix.size()), i + 2);
  }
  if (bytes.size() >= kMaxV1Size) return invalid("PROXY v1: header longer than 107 bytes", 1);
  ProxyHeaderParse more;
  more.version = bytes.size() >= kV1Prefix.size() ? 1 : 0;
  return more;
}

// TLVs after the addresses (type, 16-bit length, value): skipped, but they must tile the block
// exactly, as a sender that gets their framing wrong cannot be trusted with the addresses either.
bool tlvs_well_formed(std::span<const uint8_t> block) {
  size_t pos = 0;
  while (pos < block.size()) {
    if (block.size() - pos < 3) return false;
    const size_t length = (static_cast<size_t>(block[pos + 1]) << 8) | block[pos + 2];
    pos += 3;
    if (block.size() - pos < length) return false;
    pos += length;
  }
  return true;
}

ProxyHeaderParse parse_v2(std::span<const uint8_t> bytes) {
  if (!prefix_matches(bytes, kV2Signature)) return invalid("not a PROXY protocol header", 0);
  ProxyHeaderParse out;
  out.version = bytes.size() >= kV2Signature.size() ? 2 : 0;
  if (bytes.size() > 12) {
    if ((bytes[12] >> 4) != 2) return invalid("PROXY v2: unsupported version", 2);
    if ((bytes[12] & 0x0f) > 1) return invalid("PROXY v2: unknown command", 2);
  }
  if (bytes.size() > 13 && ((bytes[13] >> 4) > 3 || (bytes[13] & 0x0f) > 2)) {
    return invalid("PROXY v2: unknown address family or transport", 2);
  }
  if (bytes.size() < kV2FixedSize) return out;  // NeedMore
  const size_t length = (static_cast<size_t>(bytes[14]) << 8) | bytes[15];
  if (length > kMaxV2Payload) return invalid("PROXY v2: header too long", 2);
  if (bytes.size() < kV2FixedSize + length) return out;  // NeedMore
  out.consumed = kV2FixedSize + length;
  const bool proxy_command = (bytes[12] & 0x0f) == 1;
  const uint8_t family = bytes[13] >> 4;
  const uint8_t transport = bytes[13] & 0x0f;
  const std::span<const uint8_t> block = bytes.subspan(kV2FixedSize, length);
  out.status = ParseStatus::Complete;
  if (!proxy_command || family == 0 || family == 3) {
    // LOCAL: the balancer's own connection, addresses ignored (spec 2.2); UNSPEC and UNIX carry
    // nothing ringway can use as a client IP. Whatever follows is skipped unread.
    out.local = true;
    return out;
  }
  if (transport != 1) return invalid("PROXY v2: not a stream (TCP) connection", 2);
  const size_t address_size = family == 1 ? 12 : 36;
  if (length < address_size) return invalid("PROXY v2: address block too short", 2);
  if (!tlvs_well_formed(block.subspan(address_size))) return invalid("PROXY v2: malformed TLV", 2);
  if (family == 1) {
    out.family = AF_INET;
    auto* src = reinterpret_cast<sockaddr_in*>(&out.source);
    auto* dst = reinterpret_cast<sockaddr_in*>(&out.destination);
    src->sin_family = dst->sin_family = AF_INET;
    std::memcpy(&src->sin_addr, block.data(), 4);
    std::memcpy(&dst->sin_addr, block.data() + 4, 4);
    std::memcpy(&src->sin_port, block.data() + 8, 2);  // network byte order on both sides
    std::memcpy(&dst->sin_port, block.data() + 10, 2);
  } else {
    out.family = AF_INET6;
    auto* src = reinterpret_cast<sockaddr_in6*>(&out.source);
    auto* dst = reinterpret_cast<sockaddr_in6*>(&out.destination);
    src->sin6_family = dst->sin6_family = AF_INET6;
    std::memcpy(&src->sin6_addr, block.data(), 16);
    std::memcpy(&dst->sin6_addr, block.data() + 16, 16);
    std::memcpy(&src->sin6_port, block.data() + 32, 2);
    std::memcpy(&dst->sin6_port, block.data() + 34, 2);
  }
  return out;
}

// An address as the encoders need it: family, raw bytes (4 or 16) and the port in network order.
struct Ip {
  int family = AF_UNSPEC;
  std::array<uint8_t, 16> bytes{};
  uint16_t port_be = 0;
};

Ip ip_of(const sockaddr_storage& address) {
  Ip ip;
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ip.family = AF_INET;
    std::memcpy(ip.bytes.data(), &v4->sin_addr, 4);
    ip.port_be = v4->sin_port;
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ip.family = AF_INET6;
    std::memcpy(ip.bytes.data(), &v6->sin6_addr, 16);
    ip.port_be = v6->sin6_port;
  }
  return ip;
}

// ::ffff:a.b.c.d
void map_to_v6(Ip& ip) {
  if (ip.family != AF_INET) return;
  std::array<uint8_t, 16> mapped{};
  mapped[10] = mapped[11] = 0xff;
  std::memcpy(mapped.data() + 12, ip.bytes.data(), 4);
  ip.bytes = mapped;
  ip.family = AF_INET6;
}

// Both addresses in one family (IPv4 only when both are); false when either is not IP.
bool same_family(Ip& source, Ip& destination) {
  if (source.family == AF_UNSPEC || destination.family == AF_UNSPEC) return false;
  if (source.family != destination.family) {
    map_to_v6(source);
    map_to_v6(destination);
  }
  return true;
}

std::string ip_text(const Ip& ip) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  ::inet_ntop(ip.family, ip.bytes.data(), text.data(), text.size());
  return text.data();
}

}  // namespace

ProxyHeaderParse parse_proxy_header(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return {};
  return bytes[0] == static_cast<uint8_t>(kV2Signature[0]) ? parse_v2(bytes) : parse_v1(bytes);
}

std::string encode_proxy_v1(const sockaddr_storage& source, const sockaddr_storage& destination) {
  Ip src = ip_of(source);
  Ip dst = ip_of(destination);
  if (!same_family(src, dst)) return encode_proxy_v1_unknown();
  std::string out = src.family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ";
  out.append(ip_text(src)).append(" ").append(ip_text(dst)).append(" ");
  out.append(std::to_string(ntohs(src.port_be))).append(" ").append(std::to_string(ntohs(dst.port_be)));
  out.append("\r\n");
  return out;
}

std::string encode_proxy_v2(const sockaddr_storage& source, const sockaddr_storage& destination) {
  Ip src = ip_of(source);
  Ip dst = ip_of(destination);
  if (!same_family(src, dst)) return encode_proxy_v2_local();
  const size_t size = src.family == AF_INET ? 4 : 16;
  std::string out(kV2Signature);
  out.push_back('\x21');                               // version 2, PROXY
  out.push_back(src.family == AF_INET ? '\x11' : '\x21');  // INET or INET6, STREAM
  const size_t length = 2 * size + 4;
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length & 0xff));
  out.append(reinterpret_cast<const char*>(src.bytes.data()), size);
  out.append(reinterpret_cast<const char*>(dst.bytes.data()), size);
  out.append(reinterpret_cast<const char*>(&src.port_be), 2);
  out.append(reinterpret_cast<const char*>(&dst.port_be), 2);
  return out;
}

std::string encode_proxy_v1_unknown() { return "PROXY UNKNOWN\r\n"; }

std::string encode_proxy_v2_local() {
  std::string out(kV2Signature);
  out.append({'\x20', '\x00', '\x00', '\x00'});  // version 2, LOCAL; UNSPEC; no address block
  return out;
}

}  // namespace ringway::proxyproto
