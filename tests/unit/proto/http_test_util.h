#pragma once

#include <string>

namespace ringway::http::test {

// A valid upgrade (the RFC 6455 1.3 sample key).
inline const std::string kValidUpgrade =
    "GET /chat?room=a%2Fb HTTP/1.1\r\n"
    "Host: server.example.com:8080\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

}  // namespace ringway::http::test
