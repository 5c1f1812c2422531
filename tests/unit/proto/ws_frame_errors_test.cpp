// Each protocol error, reported at the offset of the offending frame's first byte.
#include <doctest/doctest.h>

#include "frame_test_util.h"
#include "proxy/ws/frame_tracker.h"

using namespace ringway::ws;
using namespace ringway::ws::test;

namespace {

struct Case {
  const char* name;
  Direction direction;
  FrameSpec bad;
  FrameError expected;
  bool open_message = false;  // put a first fragment before the bad frame
  uint64_t limit = 0;
};

constexpr auto C2S = Direction::ClientToServer;
constexpr auto S2C = Direction::ServerToClient;

// A valid prefix (with the right masking for the direction) and then the bad frame.
std::vector<uint8_t> stream_for(const Case& c, size_t& bad_offset) {
  const bool masked = c.direction == C2S;
  std::vector<uint8_t> wire;
  append_frame(wire, {.opcode = 0x1, .length = 7, .masked = masked});
  append_frame(wire, {.opcode = 0x9, .length = 2, .masked = masked});
  if (c.open_message) append_frame(wire, {.fin = false, .opcode = 0x2, .length = 10, .masked = masked});
  bad_offset = wire.size();
  append_frame(wire, c.bad);
  return wire;
}

const Case kCases[] = {
    {"unmasked client frame", C2S, {.opcode = 0x1, .length = 3}, FrameError::MaskViolation},
    {"masked server frame", S2C, {.opcode = 0x1, .length = 3, .masked = true}, FrameError::MaskViolation},
    {"reserved data opcode 0x3", S2C, {.opcode = 0x3, .length = 1}, FrameError::ReservedOpcode},
    {"reserved control opcode 0xB", C2S, {.opcode = 0xB, .length = 1, .masked = true},
     FrameError::ReservedOpcode},
    {"RSV1 without an extension", S2C, {.rsv = 0x4, .opcode = 0x1, .length = 1}, FrameError::ReservedBits},
    {"RSV3 without an extension", C2S, {.rsv = 0x1, .opcode = 0x2, .length = 1, .masked = true},
     FrameError::ReservedBits},
    {"ping of 126 bytes", S2C, {.opcode = 0x9, .length = 126}, FrameError::ControlTooLong},
    {"close with a 64-bit length", C2S,
     {.opcode = 0x8, .length = 3, .masked = true, .form = LengthForm::Force64}, FrameError::ControlTooLong},
    {"ping without FIN", S2C, {.fin = false, .opcode = 0x9, .length = 1}, FrameError::ControlFragmented},
    {"64-bit length with the top bit", S2C,
     {.opcode = 0x2, .length = 0, .length_field = 0x8000000000000000ULL}, FrameError::LengthTopBit},
    {"16-bit length under 126", S2C, {.opcode = 0x2, .length = 125, .form = LengthForm::Force16},
     FrameError::NonMinimalLength},
    {"64-bit length under 65536", C2S,
     {.opcode = 0x2, .length = 65535, .masked = true, .form = LengthForm::Force64}, FrameError::NonMinimalLength},
    {"continuation with no message", S2C, {.opcode = 0x0, .length = 1}, FrameError::UnexpectedContinuation},
    {"text inside a fragmented message", C2S, {.opcode = 0x1, .length = 1, .masked = true},
     FrameError::ExpectedContinuation, true},
    {"single frame over the limit", S2C, {.opcode = 0x2, .length = 1001}, FrameError::MessageTooBig, false, 1000},
    {"fragments summing over the limit", C2S, {.opcode = 0x0, .length = 991, .masked = true},
     FrameError::MessageTooBig, true, 1000},
};

}  // namespace

TEST_CASE("each protocol error is reported at the offending frame's first byte") {
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    size_t bad_offset = 0;
    const std::vector<uint8_t> wire = stream_for(c, bad_offset);
    FrameTracker tracker(c.direction, c.limit);
    Recorder sink;
    const FeedResult result = tracker.feed(wire, sink);
    CHECK(result.error == c.expected);
    CHECK(result.consumed == bad_offset);
    CHECK(result.header_bytes_before == 0);
    CHECK(tracker.error() == c.expected);
    CHECK(sink.frames.size() == (c.open_message ? 3 : 2));  // nothing of the bad frame reported
  }
}

TEST_CASE("an error in a header split across reads names the header bytes already passed on") {
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    size_t bad_offset = 0;
    const std::vector<uint8_t> wire = stream_for(c, bad_offset);
    FrameTracker tracker(c.direction, c.limit);
    Recorder sink;
    FeedResult result;
    size_t fed = 0;
    for (; fed < wire.size(); ++fed) {
      result = tracker.feed(std::span<const uint8_t>(wire).subspan(fed, 1), sink);
      if (result.error != FrameError::None) break;
    }
    CHECK(result.error == c.expected);
    CHECK(result.consumed == 0);
    CHECK(bad_offset + result.header_bytes_before == fed);
  }
}

TEST_CASE("the size limit fails a frame from its header, before any payload arrives") {
  std::vector<uint8_t> wire;
  append_frame(wire, {.opcode = 0x2, .length = 1 << 20, .masked = true});
  FrameTracker tracker(Direction::ClientToServer, 65536);
  Recorder sink;
  // 9 header bytes leave the 64-bit length one byte short: no verdict yet. Its last byte brings the
  // error, before the mask and any payload.
  CHECK(tracker.feed(std::span<const uint8_t>(wire).first(9), sink).error == FrameError::None);
  const FeedResult result = tracker.feed(std::span<const uint8_t>(wire).subspan(9, 1), sink);
  CHECK(result.error == FrameError::MessageTooBig);
  CHECK(result.header_bytes_before == 9);
  CHECK(sink.frames.empty());
}

TEST_CASE("a huge 64-bit length does not overflow the message size check") {
  std::vector<uint8_t> wire;
  append_frame(wire, {.fin = false, .opcode = 0x2, .length = 10});
  append_frame(wire, {.opcode = 0x0, .length = 0, .length_field = 0x7FFFFFFFFFFFFFFFULL});
  FrameTracker tracker(Direction::ServerToClient, 100);
  Recorder sink;
  CHECK(tracker.feed(wire, sink).error == FrameError::MessageTooBig);
}

TEST_CASE("after an error the tracker stays failed and consumes nothing") {
  std::vector<uint8_t> bad;
  append_frame(bad, {.opcode = 0x3, .length = 0});
  std::vector<uint8_t> good;
  append_frame(good, {.opcode = 0x1, .length = 1});
  FrameTracker tracker(Direction::ServerToClient);
  Recorder sink;
  CHECK(tracker.feed(bad, sink).error == FrameError::ReservedOpcode);
  const FeedResult again = tracker.feed(good, sink);
  CHECK(again.error == FrameError::ReservedOpcode);
  CHECK(again.consumed == 0);
  CHECK(sink.frames.empty());
}

TEST_CASE("errors map to the contract's close codes") {
  CHECK(close_code_for(FrameError::MessageTooBig) == 1009);
  CHECK(close_code_for(FrameError::MaskViolation) == 1002);
  CHECK(close_code_for(FrameError::ReservedOpcode) == 1002);
  CHECK(std::string_view(to_string(FrameError::MaskViolation)) == "mask violation");
}
