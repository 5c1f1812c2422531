// MessageFramer: however a stream of HTTP messages is split into reads, the same events (head ends,
// message ends, error) happen at the same byte offsets, consumed never exceeds what was fed, and
// NeedMore always takes every byte. Input: [split seed][flags: bit 0 response, bit 1 answers
// HEAD][stream bytes...]
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "proxy/http/message_framer.h"

namespace {

using ringway::http::MessageFramer;
using Event = MessageFramer::Event;

bool g_deep = false;

struct Mark {
  Event event;
  size_t offset;  // absolute, in the stream
  int status;
  bool keep_alive;
  bool operator==(const Mark&) const = default;
};

struct Outcome {
  std::vector<Mark> marks;
  bool eof_ends = false;
};

Outcome frame(std::string_view stream, uint8_t flags, uint32_t split_seed) {
  MessageFramer framer((flags & 1) != 0 ? MessageFramer::Kind::Response : MessageFramer::Kind::Request);
  framer.set_head_request((flags & 2) != 0);
  Outcome out;
  size_t pos = 0;
  uint32_t rng = split_seed * 2654435761U + 7;
  bool again = false;  // after a head or a message end, feed what is left, even nothing
  while ((pos < stream.size() || again) && out.marks.size() < 256) {
    size_t n = stream.size() - pos;
    if (split_seed != 0 && n > 0) {
      rng = rng * 1103515245U + 12345U;
      n = std::min<size_t>(n, 1 + ((rng >> 16) % 23));
    }
    const MessageFramer::Step step = framer.feed(stream.substr(pos, n));
    FUZZ_CHECK(step.consumed <= n);
    if (step.event == Event::NeedMore) FUZZ_CHECK(step.consumed == n);
    pos += step.consumed;
    if (step.event == Event::Error) {
      out.marks.push_back({Event::Error, 0, 0, false});  // where the error is seen may differ by split
      FUZZ_CHECK(framer.feed("GET / HTTP/1.1\r\n\r\n").event == Event::Error);
      return out;
    }
    again = step.event != Event::NeedMore;
    if (again) out.marks.push_back({step.event, pos, framer.status_code(), framer.keep_alive()});
    if (step.event == Event::HeadDone) FUZZ_CHECK(framer.in_body());
    if (step.event == Event::MessageDone) FUZZ_CHECK(!framer.in_body() && framer.at_message_start());
    if (step.event == Event::MessageDone && !framer.keep_alive()) return out;  // nothing may follow
  }
  out.eof_ends = framer.finish();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_deep = false;
  if (size < 2) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  const Outcome whole = frame(stream, data[1], 0);
  const Outcome pieces = frame(stream, data[1], data[0] | 0x100U);
  FUZZ_CHECK(whole.marks == pieces.marks);
  FUZZ_CHECK(whole.eof_ends == pieces.eof_ends);
  g_deep = !whole.marks.empty() && whole.marks.front().event != Event::Error;
  return 0;
}

namespace ringway::fuzz {

bool last_input_was_deep() { return g_deep; }

std::vector<std::string> seeds() {
  return {
      std::string("\x01\x00", 2) + "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
      std::string("\x02\x00", 2) + "POST /e HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n",
      std::string("\x03\x00", 2) + "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
      "\x04\x01HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "\x05\x01HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "\x06\x03HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
      "\x07\x01HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n",
      "\x08\x01HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof",
  };
}

std::vector<std::string> dictionary() {
  return {"\r\n", "\r\n\r\n", "HTTP/1.1 ", "HTTP/1.0 ", "GET / HTTP/1.1\r\n", "POST ", "HEAD ", "100 Continue",
          "204 ", "304 ", "Content-Length: ", "Transfer-Encoding: chunked", "0\r\n\r\n", "Connection: close",
          "Connection: keep-alive", ";ext=1", "Expect: 100-continue"};
}

}  // namespace ringway::fuzz
