// Hop-by-hop header fields (RFC 9110 7.6.1): they describe one connection, so a proxy drops them and
// sets its own. Used on plain HTTP requests toward the backend and on responses toward the client
// (a WebSocket upgrade keeps its Upgrade and Connection: they are the handshake). Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/tokens.h"

namespace ringway::http {

// The hop-by-hop fields of one message: the fixed ones and every name listed in its Connection
// headers. Transfer-Encoding is *not* among them here: ringway forwards bodies unchanged, so the
// framing header goes on with them.
class HopByHop {
 public:
  // Call with the value of each Connection header of the message.
  void add_connection_value(std::string_view value) { connection_values_.push_back(value); }

  bool contains(std::string_view name) const {
    for (const std::string_view fixed : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade"}) {
      if (iequals(name, fixed)) return true;
    }
    for (const std::string_view value : connection_values_) {
      if (list_has_token(value, name)) return true;
    }
    return false;
  }

 private:
  std::vector<std::string_view> connection_values_;
};

// The response head for the client, from the backend's raw head (status line and header lines, up
// to and including the blank line):
//  - `connection` non-empty (a plain HTTP response): hop-by-hop fields dropped, then
//    "Connection: <connection>" added;
//  - `connection` empty (a 101, or an answer relayed as is): every field kept;
// then `extra_headers` (complete lines, each ending in CRLF, e.g. a Set-Cookie) before the blank
// line. Lines are re-terminated with CRLF; an obs-fold continuation line follows its field.
std::string client_response_head(std::string_view raw_head, std::string_view connection,
                                 std::string_view extra_headers);

}  // namespace ringway::http
