#include <doctest/doctest.h>

#include <set>
#include <string>

#include "http_test_util.h"
#include "proxy/http/request_head.h"

using namespace ringway::http;
using ringway::http::test::kValidUpgrade;

namespace {

// kValidUpgrade with one line replaced ("" removes it) or a line added when `from` is absent.
std::string with(std::string_view from, std::string_view to) {
  std::string bytes = kValidUpgrade;
  const size_t at = bytes.find(from);
  if (at == std::string::npos) {
    bytes.insert(bytes.size() - 2, std::string(to));
  } else {
    bytes.replace(at, from.size(), to);
  }
  return bytes;
}

UpgradeVerdict verdict_of(const std::string& bytes) {
  const HeadParse parse = parse_request_head(bytes, 16384);
  REQUIRE(parse.status == HeadStatus::Complete);
  return validate_upgrade(parse.head);
}

}  // namespace

TEST_CASE("a valid upgrade passes with its key") {
  const HeadParse parse = parse_request_head(kValidUpgrade, 16384);
  const UpgradeVerdict verdict = validate_upgrade(parse.head);
  CHECK(verdict.status == 0);
  CHECK(verdict.key == "dGhlIHNhbXBsZSBub25jZQ==");
}

TEST_CASE("valid variants: token lists, several Connection headers, any case") {
  CHECK(verdict_of(with("Connection: Upgrade\r\n", "Connection: keep-alive, Upgrade\r\n")).status == 0);
  CHECK(verdict_of(with("Connection: Upgrade\r\n", "Connection: keep-alive\r\nconnection: UPGRADE\r\n")).status == 0);
  CHECK(verdict_of(with("Upgrade: websocket\r\n", "upgrade: WebSocket\r\n")).status == 0);
  CHECK(verdict_of(with("Sec-WebSocket-Version: 13\r\n", "sec-websocket-version:13 \r\n")).status == 0);
  CHECK(verdict_of(with("Content-Length", "Content-Length: 0\r\n")).status == 0);
}

TEST_CASE("each bad upgrade gets 400 with its own one-line reason") {
  struct Case {
    const char* name;
    std::string bytes;
  };
  const Case cases[] = {
      {"no Upgrade header", with("Upgrade: websocket\r\n", "")},
      {"not GET", with("GET ", "POST ")},
      {"HTTP/1.0", with("HTTP/1.1\r\n", "HTTP/1.0\r\n")},
      {"no Host", with("Host: server.example.com:8080\r\n", "")},
      {"two Hosts", with("Origin", "Host: other\r\nOrigin")},
      {"Upgrade is not websocket", with("Upgrade: websocket\r\n", "Upgrade: h2c\r\n")},
      {"Connection without upgrade", with("Connection: Upgrade\r\n", "Connection: keep-alive\r\n")},
      {"no Connection", with("Connection: Upgrade\r\n", "")},
      {"a body", with("Content-Length", "Content-Length: 3\r\n")},
      {"no key", with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")},
      {"two keys", with("Origin", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin")},
      {"key too short", with("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=")},
      {"key too long", with("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ===")},
      {"key without padding", with("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQAA")},
      {"key outside the alphabet", with("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25j!Q==")},
      {"key of 17 bytes", with("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQAB")},
  };
  std::set<std::string_view> reasons;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const UpgradeVerdict verdict = verdict_of(c.bytes);
    CHECK(verdict.status == 400);
    CHECK_FALSE(verdict.reason.empty());
    CHECK(verdict.reason.find('\n') == std::string_view::npos);
    CHECK(verdict.key.empty());
    reasons.insert(verdict.reason);
  }
  // Key shape problems share one reason, as do "no Connection" and "Connection without upgrade";
  // every other failure has its own.
  CHECK(reasons.size() == 11);
  CHECK(verdict_of(with("Upgrade: websocket\r\n", "")).reason == "not a WebSocket upgrade request");
}

TEST_CASE("a wrong or missing Sec-WebSocket-Version gets 426") {
  const UpgradeVerdict wrong = verdict_of(with("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"));
  CHECK(wrong.status == 426);
  const UpgradeVerdict list = verdict_of(with("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13, 8"));
  CHECK(list.status == 426);
  const UpgradeVerdict missing = verdict_of(with("Sec-WebSocket-Version: 13\r\n", ""));
  CHECK(missing.status == 426);
  CHECK(missing.reason != wrong.reason);
  const std::string response = error_response(wrong.status, wrong.reason, kVersionHeader);
  CHECK(response.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
}

TEST_CASE("a non-upgrade request is told so before anything else") {
  const UpgradeVerdict verdict = verdict_of("POST /api HTTP/1.0\r\n\r\n");
  CHECK(verdict.status == 400);
  CHECK(verdict.reason == "not a WebSocket upgrade request");
}

TEST_CASE("Sec-WebSocket-Accept of the RFC 6455 sample key") {
  CHECK(websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("an error response is complete, closing, and sized exactly") {
  const std::string response = error_response(400, "missing Host header");
  CHECK(response ==
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
        "Connection: close\r\n\r\nmissing Host header\n");
  CHECK(error_response(431, "request head too large").rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
  CHECK(error_response(503, "no backend up").rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
}
