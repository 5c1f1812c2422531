// Parsing and validating a client's HTTP/1.1 request head (llhttp), and building the head that goes
// on to the backend. Pure: no libuv, no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lb/hash_key.h"

namespace ringway::http {

using lb::HeaderView;

// A parsed request head. Every view points into the caller's buffer that was parsed.
struct RequestHead {
  std::string_view method;
  std::string_view target;  // byte for byte as received
  uint8_t http_major = 0;
  uint8_t http_minor = 0;
  std::vector<HeaderView> headers;  // in order, duplicates kept
  size_t head_length = 0;           // bytes up to and including the blank line
  // The whole head (head_length bytes of the buffer), so that it is forwarded byte for byte. Left
  // empty by hand-built heads: build_backend_head then writes the head from the fields above.
  std::string_view raw;

  // First header with this name (case-insensitive), or nullptr.
  const HeaderView* find(std::string_view name) const;
  // The Host header without port, lower-cased view not possible: returned as is.
  std::string_view host() const;
};

enum class HeadStatus : uint8_t {
  NeedMore,   // no blank line yet and still within the size limit
  Complete,   // `head` is filled; bytes after head_length belong to the stream
  TooLarge,   // the head exceeds max_header_size: answer 431
  Malformed,  // not HTTP/1.x: answer 400 with `reason`
};

struct HeadParse {
  HeadStatus status = HeadStatus::NeedMore;
  RequestHead head;
  std::string_view reason;  // for Malformed, a static one-line reason
};

// Parses the request head at the start of `buffer` (all bytes received so far).
// llhttp sees the head only once its blank line is there, and stops at it: whatever follows (a body,
// the client's first frames) is never consumed. Bare LF, bare CR, obsolete line folding, whitespace
// before a header's colon and leading empty lines are Malformed (RFC 9112 lets a server reject them,
// and a proxy must, lest it read a head differently from the backend). Some garbage (a TLS
// ClientHello on a plain port) is Malformed at its first bytes instead of waiting for 408 or 431.
HeadParse parse_request_head(std::string_view buffer, size_t max_header_size);
// The same, for a caller that calls again as bytes arrive: `scanned` is the buffer size at the
// previous call that returned NeedMore (0 at first), so that a client sending its head one byte at
// a time costs linear, not quadratic, scanning.
HeadParse parse_request_head(std::string_view buffer, size_t max_header_size, size_t scanned);

// The contract's verdict on a WebSocket upgrade request.
struct UpgradeVerdict {
  int status = 0;            // 0 = a valid upgrade; else 400 or 426 (the contract's statuses)
  std::string_view reason;   // one line, static storage
  std::string_view key;      // Sec-WebSocket-Key when valid
};

// Checks, in this order, each with its own reason: an Upgrade header at all (400 "not a WebSocket
// upgrade request"), GET, HTTP/1.1 or later, exactly one Host, Upgrade naming websocket, Connection
// holding the token upgrade (any of several Connection headers), no request body, then
// Sec-WebSocket-Version (426 when absent or not 13: RFC 6455 4.2.2 answers both with 426 and
// "Sec-WebSocket-Version: 13"), then exactly one Sec-WebSocket-Key of 24 base64 characters ending
// in "==" (16 bytes).
UpgradeVerdict validate_upgrade(const RequestHead& head);

// Whether the request asks for a WebSocket at all (an Upgrade header naming websocket, or a
// Sec-WebSocket-Key): such a request is validated as an upgrade (400/426 when it is not a valid
// one); any other request is plain HTTP, proxied as such (its Upgrade, e.g. h2c, dropped).
bool wants_websocket(const RequestHead& head);

// The extra header that goes with a 426 verdict.
inline constexpr std::string_view kVersionHeader = "Sec-WebSocket-Version: 13\r\n";

// A complete error response: status line, Content-Type text/plain, Content-Length, Connection:
// close, extra headers (each ending in CRLF, e.g. "Sec-WebSocket-Version: 13\r\n"), and the reason
// plus a newline as the body.
std::string error_response(int status, std::string_view reason, std::string_view extra_headers = {});

// The request head for the backend: request line and headers unchanged, except X-Forwarded-For
// (the client address appended to an existing value, else added) and X-Forwarded-Proto (set).
// `connection` empty: an upgrade, every other field passes. Non-empty: a plain HTTP request, whose
// hop-by-hop fields (proxy/http/hop_by_hop.h) are dropped and "Connection: <connection>" added.
std::string build_backend_head(const RequestHead& head, std::string_view client_ip,
                               std::string_view proto, std::string_view connection = {});

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (base64(SHA-1(key + GUID))).
std::string websocket_accept(std::string_view key);

}  // namespace ringway::http
