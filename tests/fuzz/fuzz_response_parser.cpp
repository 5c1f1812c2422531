// ResponseParser: however the backend's answer is split into reads, it ends in the same state at the
// same byte, with the same status and Sec-WebSocket-Accept, and consumed() never exceeds a chunk.
// Input: [split seed][response bytes...]
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "proxy/http/response_head.h"

namespace {

using ringway::http::ResponseParser;
using State = ResponseParser::State;

bool g_deep = false;

struct Outcome {
  State state = State::NeedMore;
  State after_eof = State::NeedMore;
  size_t consumed = 0;  // bytes of the response when it ended (Upgraded / MessageDone)
  int status = 0;
  std::string accept;
  std::string extensions;
};

bool terminal(State state) { return state == State::Upgraded || state == State::MessageDone || state == State::Error; }

Outcome parse(std::string_view stream, uint32_t split_seed) {
  ResponseParser parser;
  Outcome outcome;
  size_t pos = 0;
  uint32_t rng = split_seed * 2654435761U + 7;
  while (pos < stream.size() && !terminal(outcome.state)) {
    size_t n = stream.size() - pos;
    if (split_seed != 0) {
      rng = rng * 1103515245U + 12345U;
      n = std::min<size_t>(n, 1 + ((rng >> 16) % 23));
    }
    outcome.state = parser.feed(stream.substr(pos, n));
    FUZZ_CHECK(parser.consumed() <= n);
    if (outcome.state == State::NeedMore || outcome.state == State::InBody) FUZZ_CHECK(parser.consumed() == n);
    outcome.consumed += parser.consumed();
    pos += n;
  }
  if (terminal(outcome.state)) {
    // Nothing more is taken once the answer has ended.
    FUZZ_CHECK(parser.feed("HTTP/1.1 200 OK\r\n\r\n") == outcome.state && parser.consumed() == 0);
  }
  if (outcome.state != State::NeedMore) {
    outcome.status = parser.status_code();
    outcome.accept = parser.accept_header();
    outcome.extensions = parser.extensions_header();
  }
  outcome.after_eof = parser.finish();
  FUZZ_CHECK(outcome.after_eof != State::NeedMore && outcome.after_eof != State::InBody);
  if (outcome.state == State::Upgraded) FUZZ_CHECK(outcome.status == 101);
  if (outcome.state == State::MessageDone || outcome.state == State::InBody) {
    FUZZ_CHECK(outcome.status >= 200 && outcome.status != 101);
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_deep = false;
  if (size < 1) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const Outcome whole = parse(stream, 0);
  const Outcome pieces = parse(stream, data[0] | 0x100U);
  FUZZ_CHECK(whole.state == pieces.state);
  g_deep = whole.state != State::Error && whole.state != State::NeedMore;
  FUZZ_CHECK(whole.after_eof == pieces.after_eof);
  FUZZ_CHECK(whole.status == pieces.status);
  if (whole.state != State::Error) {
    FUZZ_CHECK(whole.consumed == pieces.consumed);
    FUZZ_CHECK(whole.accept == pieces.accept && whole.extensions == pieces.extensions);
  }
  return 0;
}

namespace ringway::fuzz {

bool last_input_was_deep() { return g_deep; }

std::vector<std::string> seeds() {
  const std::string ok101 =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
  return {
      "\x01" + ok101 + "\x81\x05Hello",
      "\x02HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!extra",
      "\x03HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      "\x04HTTP/1.1 502 Bad Gateway\r\n\r\nuntil eof",
      "\x05HTTP/1.1 100 Continue\r\n\r\n" + ok101,
      "\x06HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
      "\x07HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\nbody",
  };
}

std::vector<std::string> dictionary() {
  return {"\r\n", "\r\n\r\n", "HTTP/1.1 ", "101 ", "200 ", "100 Continue", "Content-Length: ", "Transfer-Encoding: chunked",
          "0\r\n\r\n", "Sec-WebSocket-Accept: ", "Sec-WebSocket-Extensions: ", "Connection: close", ";ext=1"};
}

}  // namespace ringway::fuzz
