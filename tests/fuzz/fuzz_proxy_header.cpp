// parse_proxy_header: no crash; a verdict never changes as bytes are added after a Complete or an
// Invalid one (the parser looks only at what it needs); a Complete header is never longer than its
// bound, and every proper prefix of it is NeedMore (so reading stops exactly at its end); what the
// encoders write for the addresses parsed parses back to them.
// Input: the bytes a client sends first.
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "proxy/http/proxy_header.h"

namespace {

using namespace ringway::proxyproto;

bool g_deep = false;

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void check_round_trip(const ProxyHeaderParse& p) {
  for (const std::string& header : {encode_proxy_v1(p.source, p.destination), encode_proxy_v2(p.source, p.destination)}) {
    const ProxyHeaderParse again =
        parse_proxy_header(std::span(reinterpret_cast<const uint8_t*>(header.data()), header.size()));
    FUZZ_CHECK(again.status == ParseStatus::Complete && again.consumed == header.size());
    FUZZ_CHECK(!again.local && again.family == p.family);
    FUZZ_CHECK(same_address(again.source, p.source) && same_address(again.destination, p.destination));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_deep = false;
  const std::span<const uint8_t> input(data, size);
  const ProxyHeaderParse p = parse_proxy_header(input);
  switch (p.status) {
    case ParseStatus::NeedMore:
      FUZZ_CHECK(size < kV2FixedSize + kMaxV2Payload);
      return 0;
    case ParseStatus::Invalid: {
      FUZZ_CHECK(!p.reason.empty() && p.reason.find('\n') == std::string_view::npos);
      // Verdicts are monotonic: bytes added never turn a header Invalid, so no prefix was Complete.
      if (size > 0) FUZZ_CHECK(parse_proxy_header(input.first(size - 1)).status != ParseStatus::Complete);
      return 0;
    }
    case ParseStatus::Complete:
      break;
  }
  g_deep = true;
  FUZZ_CHECK(p.consumed > 0 && p.consumed <= size);
  FUZZ_CHECK(p.version == 1 || p.version == 2);
  FUZZ_CHECK(p.consumed <= (p.version == 1 ? kMaxV1Size : kV2FixedSize + kMaxV2Payload));
  const ProxyHeaderParse exact = parse_proxy_header(input.first(p.consumed));
  FUZZ_CHECK(exact.status == ParseStatus::Complete && exact.consumed == p.consumed);
  FUZZ_CHECK(parse_proxy_header(input.first(p.consumed - 1)).status == ParseStatus::NeedMore);
  if (p.local) return 0;
  FUZZ_CHECK(p.family == AF_INET || p.family == AF_INET6);
  FUZZ_CHECK(p.source.ss_family == p.family && p.destination.ss_family == p.family);
  check_round_trip(p);
  return 0;
}

namespace ringway::fuzz {

bool last_input_was_deep() { return g_deep; }

std::vector<std::string> seeds() {
  const std::string sig(kV2Signature);
  const std::string v4_block("\xcb\x00\x71\x07\xc6\x33\x64\x01\xc7\x38\x01\xbb", 12);
  return {
      "PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\r\nGET / HTTP/1.1\r\n",
      "PROXY TCP6 2001:db8::7 ::ffff:1.2.3.4 1 65535\r\n",
      "PROXY UNKNOWN\r\n\x16\x03\x01",
      sig + std::string("\x21\x11\x00\x0c", 4) + v4_block,
      sig + std::string("\x21\x11\x00\x1b", 4) + v4_block + std::string("\xea\x00\x0c\x01vpce-0123ab", 15),
      sig + std::string("\x20\x00\x00\x00", 4),
      sig + std::string("\x21\x21\x00\x24", 4) + std::string(36, '\x01'),
  };
}

std::vector<std::string> dictionary() {
  return {"PROXY ", "TCP4 ", "TCP6 ", "UNKNOWN", "\r\n", " ", "::", "::ffff:", "127.0.0.1", "65535",
          std::string(kV2Signature), std::string("\x21\x11", 2), std::string("\x21\x21", 2),
          std::string("\x20\x00", 2), std::string("\x00\x0c", 2), std::string("\x00\x24", 2)};
}

}  // namespace ringway::fuzz
