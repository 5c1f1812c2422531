// Where one HTTP/1.x message ends, found incrementally as its bytes stream past (llhttp in streaming
// mode). ringway forwards bodies unchanged, chunked or not: this only tells it where the head ends
// (so that the head can be rewritten) and where the message ends (so that the next request or
// response is not mixed into this one). A few hundred bytes of state, whatever the body's size.
// Pure: no libuv, no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace ringway::http {

class MessageFramer {
 public:
  enum class Kind : uint8_t { Request, Response };
  explicit MessageFramer(Kind kind);
  ~MessageFramer();
  MessageFramer(const MessageFramer&) = delete;
  MessageFramer& operator=(const MessageFramer&) = delete;

  enum class Event : uint8_t {
    NeedMore,     // every byte fed belongs to the current message; more is needed
    HeadDone,     // a head ended after `consumed` bytes (an interim 1xx head too)
    MessageDone,  // the message ended after `consumed` bytes
    Error,        // not valid HTTP/1.x framing (error_reason() says why)
  };
  struct Step {
    Event event = Event::NeedMore;
    size_t consumed = 0;  // bytes of this feed that belong to the message so far
  };

  // Feeds the next bytes. Stops right after a head and right after a message: the caller handles
  // the event and feeds the remaining bytes (bytes.substr(consumed)) again. After MessageDone the
  // framer is ready for the next message on the same connection (the next response after an
  // interim 1xx, or the next request of a keep-alive connection).
  Step feed(std::string_view bytes);
  // The peer closed its side: true when that legitimately ends the message in progress (a response
  // without length, read until EOF), false when the message is cut short (or none was under way).
  bool finish();

  // The response being framed answers a HEAD request: it has no body whatever its head says.
  // Set before its head is fed.
  void set_head_request(bool head);
  // A response head longer than this is an Error (default 64 KiB); requests are parsed and limited
  // by parse_request_head before they are fed here.
  void set_max_head_size(size_t bytes);

  // Of the last head: its status (responses), whether it is an interim 1xx (not 101), its version.
  int status_code() const;
  bool interim() const;
  uint8_t http_major() const;
  uint8_t http_minor() const;
  // Whether the connection may carry another message after this one (HTTP/1.1 default, Connection:
  // close, HTTP/1.0 keep-alive, a response read until EOF never). Valid from HeadDone on.
  bool keep_alive() const;
  // True while between a head and the end of its message (the body is streaming).
  bool in_body() const;
  // True when no byte of a next message has been fed since the last MessageDone (or ever).
  bool at_message_start() const;
  const char* error_reason() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringway::http
