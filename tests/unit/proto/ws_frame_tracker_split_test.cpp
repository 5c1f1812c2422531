// The tracker must give the same frames however the stream is cut into reads.
#include <doctest/doctest.h>

#include <random>

#include "frame_test_util.h"
#include "proxy/ws/frame_tracker.h"

using namespace ringway::ws;
using namespace ringway::ws::test;

namespace {

// 7-bit, 16-bit and 64-bit lengths, control frames between fragments, empty frames.
std::vector<uint8_t> mixed_stream(bool masked) {
  std::vector<uint8_t> wire;
  append_frame(wire, {.opcode = 0x1, .length = 5, .masked = masked});
  append_frame(wire, {.fin = false, .opcode = 0x2, .length = 126, .masked = masked});
  append_frame(wire, {.opcode = 0x9, .length = 125, .masked = masked});
  append_frame(wire, {.fin = false, .opcode = 0x0, .length = 0, .masked = masked});
  append_frame(wire, {.opcode = 0xA, .length = 0, .masked = masked});
  append_frame(wire, {.opcode = 0x0, .length = 70000, .masked = masked});
  append_frame(wire, {.opcode = 0x1, .length = 0, .masked = masked});
  append_frame(wire, {.opcode = 0x2, .length = 65535, .masked = masked});
  append_frame(wire, {.opcode = 0x8, .length = 2, .masked = masked});
  return wire;
}

struct Outcome {
  std::vector<RecordedFrame> frames;
  uint64_t messages = 0;
  FrameError error = FrameError::None;
  size_t error_offset = 0;  // absolute offset of the offending frame
};

// Feeds `wire` cut at `cuts` (sorted offsets), checking the per-call results as it goes.
Outcome feed_in_pieces(Direction direction, const std::vector<uint8_t>& wire,
                       const std::vector<size_t>& cuts, uint64_t limit = 0) {
  FrameTracker tracker(direction, limit);
  Recorder sink;
  Outcome outcome;
  size_t start = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(wire.size());
  for (const size_t end : ends) {
    const std::span<const uint8_t> piece(wire.data() + start, end - start);
    const FeedResult result = tracker.feed(piece, sink);
    if (result.error != FrameError::None) {
      outcome.error = result.error;
      outcome.error_offset = start + result.consumed - result.header_bytes_before;
      break;
    }
    CHECK(result.consumed == piece.size());
    start = end;
  }
  CHECK(sink.order_ok);
  outcome.frames = sink.frames;
  outcome.messages = tracker.messages();
  return outcome;
}

void check_same(const Outcome& a, const Outcome& b) {
  CHECK(a.error == b.error);
  CHECK(a.error_offset == b.error_offset);
  CHECK(a.messages == b.messages);
  REQUIRE(a.frames.size() == b.frames.size());
  for (size_t i = 0; i < a.frames.size(); ++i) {
    CHECK(a.frames[i].header.opcode == b.frames[i].header.opcode);
    CHECK(a.frames[i].header.payload_length == b.frames[i].header.payload_length);
    CHECK(a.frames[i].header.header_size == b.frames[i].header.header_size);
    CHECK(a.frames[i].header.mask == b.frames[i].header.mask);
    CHECK(a.frames[i].payload == b.frames[i].payload);
    CHECK(a.frames[i].message_end == b.frames[i].message_end);
  }
}

}  // namespace

TEST_CASE("frames fed one byte at a time equal frames fed at once, both directions") {
  for (const bool client : {true, false}) {
    const Direction direction = client ? Direction::ClientToServer : Direction::ServerToClient;
    const std::vector<uint8_t> wire = mixed_stream(client);
    const Outcome whole = feed_in_pieces(direction, wire, {});
    CHECK(whole.error == FrameError::None);
    CHECK(whole.frames.size() == 9);
    CHECK(whole.messages == 4);
    std::vector<size_t> every_byte;
    for (size_t i = 1; i < wire.size(); ++i) every_byte.push_back(i);
    check_same(whole, feed_in_pieces(direction, wire, every_byte));
  }
}

TEST_CASE("a stream cut once at every offset gives the same frames") {
  // Small payloads keep this quadratic loop fast while covering every header position.
  for (const bool client : {true, false}) {
    const Direction direction = client ? Direction::ClientToServer : Direction::ServerToClient;
    std::vector<uint8_t> wire;
    append_frame(wire, {.fin = false, .opcode = 0x1, .length = 3, .masked = client});
    append_frame(wire, {.opcode = 0x9, .length = 1, .masked = client});
    append_frame(wire, {.opcode = 0x0, .length = 130, .masked = client});
    append_frame(wire, {.opcode = 0x2, .length = 65536, .masked = client});
    append_frame(wire, {.opcode = 0x8, .length = 0, .masked = client});
    const Outcome whole = feed_in_pieces(direction, wire, {});
    for (size_t cut = 0; cut <= wire.size(); cut += (cut < 300 || cut > wire.size() - 40) ? 1 : 997) {
      check_same(whole, feed_in_pieces(direction, wire, {cut}));
    }
  }
}

TEST_CASE("random splits with fixed seeds give the same frames") {
  for (const uint32_t seed : {1U, 2U, 3U, 42U, 1234U}) {
    std::mt19937 rng(seed);
    for (const bool client : {true, false}) {
      const Direction direction = client ? Direction::ClientToServer : Direction::ServerToClient;
      const std::vector<uint8_t> wire = mixed_stream(client);
      const Outcome whole = feed_in_pieces(direction, wire, {});
      std::vector<size_t> cuts;
      size_t pos = 0;
      while (true) {
        pos += 1 + rng() % 20;
        if (pos >= wire.size()) break;
        cuts.push_back(pos);
      }
      check_same(whole, feed_in_pieces(direction, wire, cuts));
    }
  }
}

TEST_CASE("an error is found at the same stream offset however the input is split") {
  std::vector<uint8_t> wire;
  append_frame(wire, {.opcode = 0x1, .length = 20, .masked = true});
  append_frame(wire, {.fin = false, .opcode = 0x2, .length = 40, .masked = true});
  const size_t bad_at = wire.size();
  append_frame(wire, {.opcode = 0x0, .length = 300, .masked = true});  // total 340 > 100
  const Outcome whole = feed_in_pieces(Direction::ClientToServer, wire, {}, 100);
  CHECK(whole.error == FrameError::MessageTooBig);
  CHECK(whole.error_offset == bad_at);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    check_same(whole, feed_in_pieces(Direction::ClientToServer, wire, {cut}, 100));
  }
}

// A header that is whole in one read is taken at once (FrameTracker::feed's fast path); one split
// across reads goes byte by byte. For every header error both must stop with the same error at the
// same frame, and leave the tracker in the same state (the relay asks at_frame_boundary() of a
// stream that broke the rules).
TEST_CASE("a header error is the same whether its header came whole or byte by byte") {
  struct Case {
    const char* name;
    Direction direction;
    FrameSpec bad;
    uint64_t limit = 0;
  };
  const Case cases[] = {
      {"reserved opcode", Direction::ClientToServer, {.opcode = 0x3, .length = 4, .masked = true}},
      {"rsv bits", Direction::ClientToServer, {.rsv = 4, .opcode = 0x1, .length = 4, .masked = true}},
      {"fragmented control", Direction::ServerToClient, {.fin = false, .opcode = 0x9, .length = 1}},
      {"continuation without a message", Direction::ServerToClient, {.opcode = 0x0, .length = 3}},
      {"unmasked client frame", Direction::ClientToServer, {.opcode = 0x2, .length = 3}},
      {"masked server frame", Direction::ServerToClient, {.opcode = 0x2, .length = 3, .masked = true}},
      {"control too long", Direction::ServerToClient, {.opcode = 0xA, .length = 126}},
      {"non-minimal 16-bit", Direction::ClientToServer,
       {.opcode = 0x2, .length = 5, .masked = true, .form = LengthForm::Force16}},
      {"non-minimal 64-bit", Direction::ServerToClient, {.opcode = 0x2, .length = 300, .form = LengthForm::Force64}},
      {"64-bit top bit", Direction::ServerToClient, {.opcode = 0x2, .length = 0, .length_field = 1ULL << 63}},
      {"too big, 7-bit length", Direction::ClientToServer, {.opcode = 0x1, .length = 60, .masked = true}, 50},
      {"too big, 16-bit length", Direction::ServerToClient, {.opcode = 0x1, .length = 200}, 100},
      {"too big, 64-bit length", Direction::ServerToClient, {.opcode = 0x2, .length = 70000}, 65536},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const bool masked = c.direction == Direction::ClientToServer;
    std::vector<uint8_t> wire;
    append_frame(wire, {.opcode = 0x1, .length = 7, .masked = masked});
    const size_t bad_at = wire.size();
    append_frame(wire, c.bad);

    FrameTracker whole(c.direction, c.limit);
    Recorder whole_sink;
    const FeedResult at_once = whole.feed(wire, whole_sink);

    FrameTracker split(c.direction, c.limit);
    Recorder split_sink;
    FeedResult last;
    size_t error_offset = 0;
    for (size_t i = 0; i < wire.size(); ++i) {
      last = split.feed(std::span(wire).subspan(i, 1), split_sink);
      if (last.error != FrameError::None) {
        error_offset = i + last.consumed - last.header_bytes_before;
        break;
      }
    }
    CHECK(at_once.error != FrameError::None);
    CHECK(at_once.error == last.error);
    CHECK(at_once.consumed == bad_at);
    CHECK(at_once.header_bytes_before == 0);
    CHECK(error_offset == bad_at);
    CHECK(whole.error() == split.error());
    CHECK(whole.at_frame_boundary() == split.at_frame_boundary());
    CHECK(whole.payload_remaining() == split.payload_remaining());
    CHECK(whole_sink.frames.size() == split_sink.frames.size());
  }
}
