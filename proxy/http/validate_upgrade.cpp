// The contract's checks on a WebSocket upgrade request (RFC 6455 4.2.1), one reason per failure so
// that a client developer reading the 400 body knows what to fix.
#include <cstddef>

#include "proxy/http/request_head.h"
#include "proxy/http/tokens.h"

namespace ringway::http {
namespace {

constexpr size_t kKeyLength = 24;  // base64 of 16 bytes: 22 characters and "=="

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Strict on the shape (24 characters, 22 from the alphabet, then "=="); the 4 unused bits of the
// last character are not checked, as decoders ignore them and the key is hashed as text anyway.
bool is_valid_key(std::string_view key) {
  if (key.size() != kKeyLength || key.substr(kKeyLength - 2) != "==") return false;
  for (size_t i = 0; i < kKeyLength - 2; ++i) {
    if (!is_base64_char(key[i])) return false;
  }
  return true;
}

size_t count(const RequestHead& head, std::string_view name) {
  size_t n = 0;
  for (const HeaderView& header : head.headers) n += iequals(header.name, name) ? 1 : 0;
  return n;
}

// The token may be in any of several headers of that name (their values form one list).
bool any_header_has_token(const RequestHead& head, std::string_view name, std::string_view token) {
  for (const HeaderView& header : head.headers) {
    if (iequals(header.name, name) && list_has_token(header.value, token)) return true;
  }
  return false;
}

// A body would be read by the backend from bytes that ringway holds back until the 101, and two
// parsers disagreeing about where a request ends is how smuggling starts: refuse it.
bool has_body(const RequestHead& head) {
  for (const HeaderView& header : head.headers) {
    if (iequals(header.name, "Transfer-Encoding")) return true;
    if (iequals(header.name, "Content-Length") && header.value != "0") return true;
  }
  return false;
}

// 426 for a missing version as for a wrong one: either way the client must learn that we speak 13.
std::string_view version_problem(const RequestHead& head) {
  bool seen = false;
  for (const HeaderView& header : head.headers) {
    if (!iequals(header.name, "Sec-WebSocket-Version")) continue;
    if (header.value != "13") return "unsupported Sec-WebSocket-Version (13 required)";
    seen = true;
  }
  return seen ? std::string_view{} : "missing Sec-WebSocket-Version (13 required)";
}

UpgradeVerdict bad(std::string_view reason) { return {400, reason, {}}; }

}  // namespace

bool wants_websocket(const RequestHead& head) {
  return any_header_has_token(head, "Upgrade", "websocket") || head.find("Sec-WebSocket-Key") != nullptr;
}

UpgradeVerdict validate_upgrade(const RequestHead& head) {
  if (head.find("Upgrade") == nullptr) return bad("not a WebSocket upgrade request");
  if (head.method != "GET") return bad("WebSocket upgrade must use GET");
  if (head.http_major != 1 || head.http_minor < 1) return bad("WebSocket upgrade requires HTTP/1.1");
  const size_t hosts = count(head, "Host");
  if (hosts == 0) return bad("missing Host header");
  if (hosts > 1) return bad("more than one Host header");
  if (!any_header_has_token(head, "Upgrade", "websocket")) return bad("Upgrade header does not name websocket");
  if (!any_header_has_token(head, "Connection", "upgrade")) {
    return bad("Connection header lacks the upgrade token");
  }
  if (has_body(head)) return bad("WebSocket upgrade request must not have a body");
  if (const std::string_view problem = version_problem(head); !problem.empty()) {
    return {426, problem, {}};
  }
  const size_t keys = count(head, "Sec-WebSocket-Key");
  if (keys == 0) return bad("missing Sec-WebSocket-Key");
  if (keys > 1) return bad("more than one Sec-WebSocket-Key header");
  const std::string_view key = head.find("Sec-WebSocket-Key")->value;
  if (!is_valid_key(key)) return bad("Sec-WebSocket-Key is not base64 of 16 bytes");
  return {0, {}, key};
}

}  // namespace ringway::http
