// Incremental parsing of the backend's answer to the forwarded upgrade (llhttp, response mode).
// It finds where the head ends (so bytes after a 101 go to the relay untouched) and, for a non-101
// answer, where the message ends (so the connection can end right after the whole answer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace ringway::http {

class ResponseParser {
 public:
  ResponseParser();
  ~ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  enum class State : uint8_t {
    NeedMore,      // head not complete yet (interim 1xx answers such as 100 are skipped)
    Upgraded,      // a 101 head is complete; consumed() bytes are the head
    InBody,        // a non-101 head is complete; the body continues
    MessageDone,   // a non-101 answer is complete (consumed() is its end)
    Error,         // not a valid HTTP/1.x response
  };

  // Feeds the next bytes. Returns the state after them; consumed() tells how many of *these* bytes
  // belong to the response (for Upgraded and MessageDone the rest belong to what follows).
  State feed(std::string_view bytes);
  size_t consumed() const;

  int status_code() const;
  // Valid once the head is complete: the Sec-WebSocket-Accept header's value, "" when absent.
  // Repeated headers are joined with ", " (so that a duplicate never matches a valid accept).
  const std::string& accept_header() const;
  // Likewise Sec-WebSocket-Extensions (joined with ", "), for ws::rsv_bits_for_extensions().
  const std::string& extensions_header() const;
  // A head longer than this (64 KiB by default) is an Error rather than memory without bound.
  void set_max_head_size(size_t bytes);
  // True when the answer's length is only known at EOF (no Content-Length, not chunked).
  bool ends_at_eof() const;
  // Feed EOF (backend closed): returns MessageDone when that legitimately ends the answer, Error when
  // the answer is cut short (and the state it had when already Upgraded or MessageDone).
  State finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringway::http
