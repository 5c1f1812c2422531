#include <doctest/doctest.h>

#include <string>

#include "proxy/http/hop_by_hop.h"
#include "proxy/http/request_head.h"

using namespace ringway::http;

TEST_CASE("hop-by-hop: the fixed names and those listed in Connection, case-insensitively") {
  HopByHop hop;
  hop.add_connection_value("keep-alive, X-Private");
  for (const char* name : {"connection", "Keep-Alive", "PROXY-CONNECTION", "te", "Trailer", "upgrade", "x-private"}) {
    CHECK(hop.contains(name));
  }
  CHECK_FALSE(hop.contains("Transfer-Encoding"));  // bodies are forwarded as they are
  CHECK_FALSE(hop.contains("X-Public"));
}

TEST_CASE("a plain response head loses its hop-by-hop fields and gets ringway's Connection") {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: X-Private\r\nX-Private: 1\r\n"
      "Transfer-Encoding: chunked\r\nx-kept:  spaced \r\n\r\n";
  CHECK(client_response_head(raw, "keep-alive", "Set-Cookie: a=b\r\n") ==
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-kept:  spaced \r\nConnection: keep-alive\r\n"
        "Set-Cookie: a=b\r\n\r\n");
}

TEST_CASE("a 101 keeps every field; extra lines go before the blank line") {
  const std::string raw = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  CHECK(client_response_head(raw, {}, {}) == raw);
  CHECK(client_response_head(raw, {}, "Set-Cookie: s=1\r\n") ==
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: s=1\r\n\r\n");
}

TEST_CASE("an obs-fold continuation goes with its field, dropped or kept") {
  const std::string raw = "HTTP/1.1 200 OK\r\nKeep-Alive: a\r\n b\r\nX-A: 1\r\n 2\r\n\r\n";
  CHECK(client_response_head(raw, "close", {}) == "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nConnection: close\r\n\r\n");
}

TEST_CASE("a plain request toward the backend: hop-by-hop dropped, Connection set, X-Forwarded-*") {
  const std::string raw =
      "POST /p%2F?q HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nTE: trailers\r\n"
      "Upgrade: h2c\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n";
  const HeadParse parse = parse_request_head(raw, 8192);
  REQUIRE(parse.status == HeadStatus::Complete);
  CHECK(build_backend_head(parse.head, "2.2.2.2", "https", "close") ==
        "POST /p%2F?q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n"
        "X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n");
  // An upgrade (no connection given) keeps them all.
  const std::string upgrade = build_backend_head(parse.head, "2.2.2.2", "https");
  CHECK(upgrade.find("X-Secret: s\r\n") != std::string::npos);
  CHECK(upgrade.find("Upgrade: h2c\r\n") != std::string::npos);
}

TEST_CASE("wants_websocket: an Upgrade naming websocket or a Sec-WebSocket-Key") {
  const auto wants = [](const std::string& raw) {
    const HeadParse parse = parse_request_head(raw, 8192);
    REQUIRE(parse.status == HeadStatus::Complete);
    return wants_websocket(parse.head);
  };
  CHECK(wants("GET / HTTP/1.1\r\nUpgrade: WebSocket\r\n\r\n"));
  CHECK(wants("GET / HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n"));
  CHECK_FALSE(wants("GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"));
  CHECK_FALSE(wants("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
}
