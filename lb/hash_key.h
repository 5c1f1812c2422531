// Extraction of the sticky key a pool hashes on (contract: pools[].hash_key).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringway::lb {

enum class HashKeyKind : uint8_t { SourceIp, Header, Cookie, Query, Path };

// A parsed `hash_key` value: "source_ip", "header:NAME", "cookie:NAME", "query:NAME" or "path".
struct HashKeySpec {
  HashKeyKind kind = HashKeyKind::SourceIp;
  std::string name;  // header, cookie or query parameter name; empty for source_ip and path

  bool operator==(const HashKeySpec&) const = default;
};

// Parses a `hash_key` value; nullopt when the text is not one of the five forms (or NAME is empty).
std::optional<HashKeySpec> parse_hash_key_spec(std::string_view text);

// One request header as seen on the wire (names compared case-insensitively).
struct HeaderView {
  std::string_view name;
  std::string_view value;
};

// What of a request the key can come from. Views only: nothing is copied.
struct RequestKeySource {
  std::string_view source_ip;                // textual client address, e.g. "10.1.2.3" or "::1"
  std::string_view target;                   // raw request target, e.g. "/ws/chat?room=7"
  std::span<const HeaderView> headers;
};

// The value of the first cookie called `name` across every Cookie header, in order (RFC 6265
// cookie-pairs, stray whitespace tolerated, one level of DQUOTEs removed); empty when absent. Views
// into `headers`. Also what `pools[].affinity_cookie` reads its cookie with.
std::string_view find_cookie(std::string_view name, std::span<const HeaderView> headers);

// The bytes to hash for this request. A missing header/cookie/parameter (or an empty value) falls
// back to the source IP, as the contract says. The result views into `source`.
std::string_view extract_hash_key(const HashKeySpec& spec, const RequestKeySource& source);

}  // namespace ringway::lb
