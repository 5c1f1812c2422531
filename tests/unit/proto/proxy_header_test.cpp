#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "proxy/http/proxy_header.h"

using namespace ringway::proxyproto;

namespace {

std::span<const uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

ProxyHeaderParse parse(std::string_view text) { return parse_proxy_header(bytes_of(text)); }

std::string ip_of(const sockaddr_storage& address) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, buf, sizeof buf);
  } else if (address.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

uint16_t port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_storage out{};
  auto* a = reinterpret_cast<sockaddr_in*>(&out);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  REQUIRE(::inet_pton(AF_INET, ip, &a->sin_addr) == 1);
  return out;
}

sockaddr_storage v6(const char* ip, uint16_t port) {
  sockaddr_storage out{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&out);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  REQUIRE(::inet_pton(AF_INET6, ip, &a->sin6_addr) == 1);
  return out;
}

// A v2 header by hand: command byte, family byte, then the block (addresses and TLVs).
std::string v2(uint8_t command, uint8_t family, const std::string& block) {
  std::string out(kV2Signature);
  out.push_back(static_cast<char>(command));
  out.push_back(static_cast<char>(family));
  out.push_back(static_cast<char>(block.size() >> 8));
  out.push_back(static_cast<char>(block.size() & 0xff));
  return out + block;
}

// 203.0.113.7:51000 -> 198.51.100.1:443
const std::string kV4Block = std::string("\xcb\x00\x71\x07\xc6\x33\x64\x01\xc7\x38\x01\xbb", 12);

// Every proper prefix of a complete header is NeedMore; the whole is Complete.
void check_every_prefix_needs_more(const std::string& header) {
  for (size_t n = 0; n < header.size(); ++n) {
    CAPTURE(n);
    CHECK(parse(std::string_view(header).substr(0, n)).status == ParseStatus::NeedMore);
  }
}

}  // namespace

TEST_CASE("v1 TCP4 gives the source and destination with their ports") {
  const std::string header = "PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\r\n";
  const ProxyHeaderParse p = parse(header + "GET / HTTP/1.1\r\n");
  REQUIRE(p.status == ParseStatus::Complete);
  CHECK(p.version == 1);
  CHECK(p.consumed == header.size());
  CHECK_FALSE(p.local);
  CHECK(p.family == AF_INET);
  CHECK(ip_of(p.source) == "203.0.113.7");
  CHECK(port_of(p.source) == 51000);
  CHECK(ip_of(p.destination) == "198.51.100.1");
  CHECK(port_of(p.destination) == 443);
  check_every_prefix_needs_more(header);
}

TEST_CASE("v1 TCP6 gives IPv6 addresses") {
  const std::string header = "PROXY TCP6 2001:db8::7 ::1 65535 0\r\n";
  const ProxyHeaderParse p = parse(header);
  REQUIRE(p.status == ParseStatus::Complete);
  CHECK(p.family == AF_INET6);
  CHECK(ip_of(p.source) == "2001:db8::7");
  CHECK(port_of(p.source) == 65535);
  CHECK(ip_of(p.destination) == "::1");
  CHECK(port_of(p.destination) == 0);
  check_every_prefix_needs_more(header);
}

TEST_CASE("v1 UNKNOWN keeps the connection's addresses, whatever follows it on the line") {
  for (const std::string header : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:: ffff:: 1 2\r\n"}) {
    CAPTURE(header);
    const ProxyHeaderParse p = parse(header + "\x16\x03\x01");
    REQUIRE(p.status == ParseStatus::Complete);
    CHECK(p.local);
    CHECK(p.consumed == header.size());
  }
}

TEST_CASE("v1 of exactly 107 bytes is accepted; one more byte is not") {
  // TCP6 with the longest addresses and ports is the spec's 107-byte worst case... padded here with
  // an UNKNOWN line, whose tail is free text.
  std::string header = "PROXY UNKNOWN ";
  header.append(107 - header.size() - 2, 'x').append("\r\n");
  REQUIRE(header.size() == 107);
  CHECK(parse(header).status == ParseStatus::Complete);
  std::string longer = "PROXY UNKNOWN ";
  longer.append(108 - longer.size() - 2, 'x').append("\r\n");
  CHECK(parse(longer).status == ParseStatus::Invalid);
  // Without a line end, 107 bytes are enough to know.
  const std::string endless = "PROXY UNKNOWN " + std::string(93, 'x');
  CHECK(parse(endless.substr(0, 106)).status == ParseStatus::NeedMore);
  CHECK(parse(endless).status == ParseStatus::Invalid);
  CHECK(parse(endless).reason == "PROXY v1: header longer than 107 bytes");
}

TEST_CASE("v1 syntax errors are Invalid with a reason") {
  const std::vector<std::string> bad = {
      "PROXY TCP4 203.0.113.7 198.51.100.1 51000\r\n",          // a field missing
      "PROXY TCP4 203.0.113.7 198.51.100.1 51000 443 9\r\n",    // one too many
      "PROXY TCP4  203.0.113.7 198.51.100.1 51000 443\r\n",     // two spaces
      "PROXY TCP4 203.0.113.7 198.51.100.1 51000 443 \r\n",     // trailing space
      "PROXY UDP4 203.0.113.7 198.51.100.1 51000 443\r\n",      // not TCP
      "PROXY TCP4 2001:db8::7 198.51.100.1 51000 443\r\n",      // family mismatch
      "PROXY TCP6 203.0.113.7 ::1 51000 443\r\n",
      "PROXY TCP4 203.0.113.256 198.51.100.1 51000 443\r\n",    // bad address
      "PROXY TCP4 203.0.113 198.51.100.1 51000 443\r\n",
      "PROXY TCP4 localhost 198.51.100.1 51000 443\r\n",
      "PROXY TCP4 203.0.113.7 198.51.100.1 65536 443\r\n",      // bad ports
      "PROXY TCP4 203.0.113.7 198.51.100.1 051000 443\r\n",
      "PROXY TCP4 203.0.113.7 198.51.100.1 -1 443\r\n",
      "PROXY TCP4 203.0.113.7 198.51.100.1 51000 4x3\r\n",
      "PROXY TCP4 203.0.113.7 198.51.100.1 51000 \r\n",
      "PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\n",        // bare LF
      "PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\rX",       // bare CR
      "PROXY \r\n",
      "PROXY TCP4 203.0.113.7\t198.51.100.1 51000 443\r\n",     // control byte
  };
  for (const std::string& header : bad) {
    CAPTURE(header);
    const ProxyHeaderParse p = parse(header);
    CHECK(p.status == ParseStatus::Invalid);
    CHECK_FALSE(p.reason.empty());
  }
}

TEST_CASE("a client that is not behind a balancer is refused at its first byte") {
  CHECK(parse("G").status == ParseStatus::Invalid);
  CHECK(parse("GET / HTTP/1.1\r\n").reason == "not a PROXY protocol header");
  CHECK(parse("\x16\x03\x01").status == ParseStatus::Invalid);     // a TLS ClientHello
  CHECK(parse("PROXZ").status == ParseStatus::Invalid);
  CHECK(parse("proxy TCP4").status == ParseStatus::Invalid);
  CHECK(parse(std::string("\r\n\r\n\0\r\nQUIX", 11)).status == ParseStatus::Invalid);  // bad v2 signature
  CHECK(parse("\r\n\r\n\r\n").status == ParseStatus::Invalid);
  CHECK(parse("").status == ParseStatus::NeedMore);
  CHECK(parse("PRO").status == ParseStatus::NeedMore);
  CHECK(parse(std::string("\r\n\r\n\0", 5)).status == ParseStatus::NeedMore);
}

TEST_CASE("v2 PROXY over IPv4 gives the addresses, in network order") {
  const std::string header = v2(0x21, 0x11, kV4Block);
  const ProxyHeaderParse p = parse(header + "GET");
  REQUIRE(p.status == ParseStatus::Complete);
  CHECK(p.version == 2);
  CHECK(p.consumed == 28);
  CHECK_FALSE(p.local);
  CHECK(p.family == AF_INET);
  CHECK(ip_of(p.source) == "203.0.113.7");
  CHECK(port_of(p.source) == 51000);
  CHECK(ip_of(p.destination) == "198.51.100.1");
  CHECK(port_of(p.destination) == 443);
  check_every_prefix_needs_more(header);
}

TEST_CASE("v2 PROXY over IPv6") {
  std::string block(36, '\0');
  block[0] = '\x20';
  block[1] = '\x01';
  block[2] = '\x0d';
  block[3] = '\xb8';
  block[15] = '\x07';  // 2001:db8::7
  block[31] = '\x01';  // ::1
  block[32] = '\x12';
  block[33] = '\x34';  // 4660
  block[35] = '\x50';  // 80
  const std::string header = v2(0x21, 0x21, block);
  const ProxyHeaderParse p = parse(header);
  REQUIRE(p.status == ParseStatus::Complete);
  CHECK(p.family == AF_INET6);
  CHECK(ip_of(p.source) == "2001:db8::7");
  CHECK(port_of(p.source) == 4660);
  CHECK(ip_of(p.destination) == "::1");
  CHECK(port_of(p.destination) == 80);
  check_every_prefix_needs_more(header);
}

TEST_CASE("v2 LOCAL, UNSPEC and UNIX keep the connection's addresses; their block is skipped") {
  for (const std::string& header : {v2(0x20, 0x00, ""), v2(0x20, 0x11, kV4Block), v2(0x21, 0x00, "xyz"),
                                    v2(0x21, 0x31, std::string(216, 'u'))}) {
    const ProxyHeaderParse p = parse(header + "rest");
    REQUIRE(p.status == ParseStatus::Complete);
    CHECK(p.local);
    CHECK(p.consumed == header.size());
  }
}

TEST_CASE("v2 TLVs after the addresses are skipped when well formed") {
  // PP2_TYPE_AWS (0xEA) with a VPC endpoint id, a NOOP, and an empty ALPN.
  std::string tlvs = std::string("\xea\x00\x17\x01", 4) + "vpce-08d2bf15fac5001c9";
  tlvs += std::string("\x04\x00\x02\x00\x00", 5) + std::string("\x01\x00\x00", 3);
  const std::string header = v2(0x21, 0x11, kV4Block + tlvs);
  const ProxyHeaderParse p = parse(header + "\x16");
  REQUIRE(p.status == ParseStatus::Complete);
  CHECK(p.consumed == header.size());
  CHECK(ip_of(p.source) == "203.0.113.7");
  check_every_prefix_needs_more(header);

  CHECK(parse(v2(0x21, 0x11, kV4Block + std::string("\x04\x00", 2))).status == ParseStatus::Invalid);
  CHECK(parse(v2(0x21, 0x11, kV4Block + std::string("\x04\x00\x05xx", 5))).reason == "PROXY v2: malformed TLV");
}

TEST_CASE("v2 errors: version, command, family, transport, short block, oversize") {
  CHECK(parse(v2(0x11, 0x11, kV4Block)).reason == "PROXY v2: unsupported version");
  CHECK(parse(v2(0x22, 0x11, kV4Block)).reason == "PROXY v2: unknown command");
  CHECK(parse(v2(0x21, 0x41, kV4Block)).status == ParseStatus::Invalid);
  CHECK(parse(v2(0x21, 0x13, kV4Block)).status == ParseStatus::Invalid);
  CHECK(parse(v2(0x21, 0x12, kV4Block)).reason == "PROXY v2: not a stream (TCP) connection");
  CHECK(parse(v2(0x21, 0x11, kV4Block.substr(0, 11))).reason == "PROXY v2: address block too short");
  CHECK(parse(v2(0x21, 0x21, kV4Block + kV4Block)).reason == "PROXY v2: address block too short");
  // The version is refused from its byte on, without waiting for the rest.
  CHECK(parse(v2(0x31, 0x11, kV4Block).substr(0, 13)).status == ParseStatus::Invalid);
  // Oversize is known from the length field alone.
  std::string big = v2(0x21, 0x11, kV4Block);
  big[14] = '\x08';
  big[15] = '\x01';  // 2049
  CHECK(parse(big.substr(0, 16)).reason == "PROXY v2: header too long");
  std::string biggest = big;
  biggest[15] = '\x00';  // 2048: allowed, so it waits for the bytes
  CHECK(parse(biggest).status == ParseStatus::NeedMore);
}

TEST_CASE("encoders: v1 and v2 parse back to the same addresses") {
  const sockaddr_storage src4 = v4("203.0.113.7", 51000);
  const sockaddr_storage dst4 = v4("198.51.100.1", 443);
  CHECK(encode_proxy_v1(src4, dst4) == "PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\r\n");
  CHECK(encode_proxy_v2(src4, dst4) == v2(0x21, 0x11, kV4Block));

  const sockaddr_storage src6 = v6("2001:db8::7", 1);
  const sockaddr_storage dst6 = v6("::1", 65535);
  CHECK(encode_proxy_v1(src6, dst6) == "PROXY TCP6 2001:db8::7 ::1 1 65535\r\n");
  for (const std::string& header : {encode_proxy_v1(src6, dst6), encode_proxy_v2(src6, dst6)}) {
    const ProxyHeaderParse p = parse(header);
    REQUIRE(p.status == ParseStatus::Complete);
    CHECK(p.consumed == header.size());
    CHECK(ip_of(p.source) == "2001:db8::7");
    CHECK(port_of(p.source) == 1);
    CHECK(ip_of(p.destination) == "::1");
    CHECK(port_of(p.destination) == 65535);
  }
}

TEST_CASE("encoders: mixed families are written as IPv6, non-IP as UNKNOWN/LOCAL") {
  const sockaddr_storage src4 = v4("203.0.113.7", 51000);
  const sockaddr_storage dst6 = v6("::1", 8080);
  CHECK(encode_proxy_v1(src4, dst6) == "PROXY TCP6 ::ffff:203.0.113.7 ::1 51000 8080\r\n");
  const ProxyHeaderParse p = parse(encode_proxy_v2(src4, dst6));
  REQUIRE(p.status == ParseStatus::Complete);
  CHECK(p.family == AF_INET6);
  CHECK(ip_of(p.source) == "::ffff:203.0.113.7");

  const sockaddr_storage none{};
  CHECK(encode_proxy_v1(none, dst6) == "PROXY UNKNOWN\r\n");
  CHECK(encode_proxy_v2(src4, none) == encode_proxy_v2_local());
  CHECK(encode_proxy_v1_unknown() == "PROXY UNKNOWN\r\n");
  CHECK(encode_proxy_v2_local() == v2(0x20, 0x00, ""));
  CHECK(parse(encode_proxy_v2_local()).local);
  CHECK(parse(encode_proxy_v1_unknown()).local);
}
