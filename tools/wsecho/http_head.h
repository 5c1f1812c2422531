// Minimal HTTP/1.1 request-head parsing for wsecho. Independent of the proxy's llhttp-based parser on
// purpose: a test that passes through both has been checked by two implementations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsecho {

struct Header {
  std::string name;
  std::string value;
};

struct RequestHead {
  std::string method;
  std::string target;  // raw, byte for byte: tests compare it with what the client sent
  std::string version;
  std::vector<Header> headers;
  std::string raw;  // the whole head including the blank line, for __headers__

  // Every value of the (case-insensitive) NAME joined with ", " as RFC 9110 5.3 allows; nullopt when
  // the header is absent, so that "absent" and "empty" stay distinguishable to tests.
  [[nodiscard]] std::optional<std::string> get(std::string_view name) const;
  // True when the comma-separated list in header NAME holds TOKEN (case-insensitive).
  [[nodiscard]] bool has_token(std::string_view name, std::string_view token) const;
};

enum class HeadStatus : uint8_t { Incomplete, Complete, Malformed };

struct HeadParse {
  HeadStatus status = HeadStatus::Incomplete;
  std::size_t consumed = 0;  // bytes of the head, when Complete
  RequestHead head;
  std::string error;  // when Malformed
};

HeadParse parse_request_head(std::span<const uint8_t> input);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 4.2.2).
std::string websocket_accept(std::string_view key);

bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view s);

}  // namespace wsecho
