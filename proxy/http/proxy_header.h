// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): the header an L4 balancer
// (AWS NLB, HAProxy) sends first on a connection to tell the real client's address, and the header
// ringway sends to backends that want one. Pure: no libuv, no sockets; the parser is incremental.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringway::proxyproto {

// A v1 header is one line of at most 107 bytes, CRLF included (the spec's own bound).
inline constexpr size_t kMaxV1Size = 107;
// v2: 16 fixed bytes, then addresses and TLVs. The spec allows 65535 bytes of them; balancers send
// a few dozen (AWS NLB: the VPC endpoint id). Anything past this bound is refused rather than
// buffered.
inline constexpr size_t kMaxV2Payload = 2048;
inline constexpr size_t kV2FixedSize = 16;
inline constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

enum class ParseStatus : uint8_t {
  NeedMore,  // a valid prefix: read more bytes
  Invalid,   // not a PROXY header (or a broken one): `reason` says why
  Complete,  // `consumed` bytes were the header; what follows belongs to the client's protocol
};

struct ProxyHeaderParse {
  ParseStatus status = ParseStatus::NeedMore;
  std::string_view reason;  // Invalid: one line, static storage
  size_t consumed = 0;      // Complete: the header's size
  uint8_t version = 0;      // 1 or 2, once known
  // v2 LOCAL (a health check of the balancer itself), v1 UNKNOWN, or an address family ringway
  // does not use (v2 UNSPEC, UNIX): the connection's own addresses stand.
  bool local = false;
  int family = AF_UNSPEC;  // AF_INET or AF_INET6 when !local
  sockaddr_storage source{};       // the real client (address and port, network byte order)
  sockaddr_storage destination{};  // the address the client connected to
};

// Parses the header at the start of `bytes` (everything received so far). Wrong bytes are Invalid
// as soon as they arrive (a plain HTTP or TLS client is refused at its first byte, not at a
// timeout); a header never needs more than kMaxV1Size or kV2FixedSize + kMaxV2Payload bytes.
ProxyHeaderParse parse_proxy_header(std::span<const uint8_t> bytes);

// "PROXY TCP4 src dst sport dport\r\n" (TCP6 for IPv6). When the families differ, an IPv4 address
// is written IPv4-mapped so that both are IPv6 (as HAProxy does); anything but IPv4/IPv6 gives the
// UNKNOWN line.
std::string encode_proxy_v1(const sockaddr_storage& source, const sockaddr_storage& destination);
// The binary header, PROXY command, TCP over IPv4 or IPv6 (mixed families as for v1); LOCAL when
// the addresses are neither.
std::string encode_proxy_v2(const sockaddr_storage& source, const sockaddr_storage& destination);
// For connections of ringway's own (health checks): "PROXY UNKNOWN\r\n" and the v2 LOCAL command.
std::string encode_proxy_v1_unknown();
std::string encode_proxy_v2_local();

}  // namespace ringway::proxyproto
