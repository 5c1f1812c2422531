// The affinity cookie (pools[].affinity_cookie): a client's first response names the backend that
// served it in a cookie, and its next requests carrying that cookie go to the same backend while it
// is usable. Socket.IO and the like need this: the backend makes up a session id at the first
// polling request, and no key of the request can hash the next ones (and the WebSocket upgrade)
// to the backend that holds it.
//
// The value is base64url(HMAC-SHA256(key, pool NUL backend) truncated to 16 bytes): 22 characters
// that name the backend by its *name* (stable across reloads and across instances that share the
// key), that a client cannot forge for a backend it was not sent to, and that do not show the
// backend's name. Checking a value is one lookup in a table built once per configuration.
// The lookup is an ordinary (not constant-time) comparison on purpose: a value is no secret from
// the client, which gets a valid one for any backend just by being balanced there; the MAC only
// keeps made-up values from steering requests, and a timing oracle over a 128-bit table lookup
// across a network gives nothing that asking does not.
// Pure: no libuv, no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lb/hash_key.h"

namespace ringway::http {

inline constexpr size_t kAffinityMacBytes = 16;    // 128 bits: forging one means guessing them
inline constexpr size_t kAffinityValueLength = 22; // base64url of 16 bytes, no padding

// The value naming `backend` of `pool` under `key` (any length; HMAC takes it as is).
std::string affinity_value(std::string_view key, std::string_view pool, std::string_view backend);

// The key used when no secret is configured: 32 random bytes, made on first use and kept for the
// life of the process (reloads included), so that cookies stay valid across reloads. Another
// process (a second instance, a restart) has another key, and its clients get new cookies.
const std::string& process_affinity_key();

// What a request's cookie says.
enum class AffinityVerdict : uint8_t {
  Absent,   // no cookie of that name (or an empty one)
  Invalid,  // a value that names no backend of this pool under this key: forged, garbled, stale
  Valid,    // names `backend`
};

struct AffinityLookup {
  AffinityVerdict verdict = AffinityVerdict::Absent;
  uint32_t backend = 0;  // index in the pool, when Valid
};

// ringway_affinity_total{result}: what became of a request's cookie once its backend was chosen.
enum class AffinityResult : uint8_t {
  Hit,      // a valid cookie, and its backend served the request
  Miss,     // no cookie: the hash chose, Set-Cookie sent
  Invalid,  // a cookie that names no backend: ignored, the hash chose, Set-Cookie sent
  Renewed,  // a valid cookie whose backend was not usable (down, draining, ejected, connect
            // failed): the hash chose another, Set-Cookie sent with it
};
inline constexpr size_t kAffinityResults = 4;
inline constexpr const char* kAffinityResultNames[kAffinityResults] = {"hit", "miss", "invalid", "renewed"};

// The result for a request whose cookie said `lookup` and that was served by `chosen`. Every result
// but Hit sends Set-Cookie.
AffinityResult affinity_result(const AffinityLookup& lookup, uint32_t chosen);

// One pool's cookie: its attributes and the value of each of its backends. Built once per
// configuration (with the pool's backends, in the pool's order); const afterwards, so workers share it.
class AffinityCookie {
 public:
  struct Options {
    std::string name = "RINGWAY_AFFINITY";
    std::string path = "/";
    uint64_t max_age_seconds = 0;  // 0: a session cookie (no Max-Age)
    std::string same_site = "Lax"; // Lax, Strict or None
    std::string key;               // the HMAC key
  };

  AffinityCookie(Options options, std::string_view pool, std::span<const std::string_view> backends);

  const std::string& name() const { return options_.name; }

  // The request's cookie (the first one of this name over every Cookie header), checked. No
  // allocation: a binary search over the pool's values.
  AffinityLookup lookup(std::span<const lb::HeaderView> headers) const;
  // The same for a cookie value alone.
  AffinityLookup check(std::string_view value) const;

  const std::string& value_of(uint32_t backend) const { return values_[backend]; }

  // The header line that (re)sets the cookie to `backend`, CRLF included:
  // "Set-Cookie: NAME=VALUE; Path=/; Max-Age=N; HttpOnly; SameSite=Lax[; Secure]\r\n".
  // HttpOnly: page scripts have no business with it. SameSite=Lax by default (what browsers assume
  // when it is absent: sent with same-site requests and top-level navigation); None for pages that
  // reach the endpoint cross-site, which browsers accept only with Secure. Secure also when the
  // client came over TLS (a cookie set over https is then never sent in clear).
  std::string set_cookie_line(uint32_t backend, bool secure) const;

 private:
  Options options_;
  std::vector<std::string> values_;                       // by backend index
  std::vector<std::pair<std::string_view, uint32_t>> by_value_;  // sorted, views into values_
};

// `head` (a whole HTTP head, ending in the blank line) with `lines` (header lines, each ending in
// CRLF) inserted before the blank line. A head without a blank line is returned unchanged.
std::string insert_header_lines(std::string_view head, std::string_view lines);

}  // namespace ringway::http
