#include <doctest/doctest.h>

#include <string>

#include "frame_test_util.h"
#include "proxy/ws/frame_tracker.h"

using namespace ringway::ws;
using namespace ringway::ws::test;

namespace {

FeedResult feed_all(FrameTracker& tracker, const std::vector<uint8_t>& bytes, Recorder& sink) {
  return tracker.feed(std::span<const uint8_t>(bytes), sink);
}

std::string text_of(std::vector<uint8_t> payload, const FrameHeader& header) {
  if (header.masked) unmask(payload, header.mask, 0);
  return {payload.begin(), payload.end()};
}

}  // namespace

TEST_CASE("RFC 6455 5.7: a single-frame unmasked text message is one message") {
  const std::vector<uint8_t> wire{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  FrameTracker tracker(Direction::ServerToClient);
  Recorder sink;
  const FeedResult result = feed_all(tracker, wire, sink);
  CHECK(result.error == FrameError::None);
  CHECK(result.consumed == wire.size());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0].header.opcode == 0x1);
  CHECK(sink.frames[0].header.header_size == 2);
  CHECK(text_of(sink.frames[0].payload, sink.frames[0].header) == "Hello");
  CHECK(sink.frames[0].message_end);
  CHECK(tracker.messages() == 1);
  CHECK(tracker.at_frame_boundary());
}

TEST_CASE("RFC 6455 5.7: a masked client text frame is tracked and unmasks to Hello") {
  const std::vector<uint8_t> wire{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  FrameTracker tracker(Direction::ClientToServer);
  Recorder sink;
  CHECK(feed_all(tracker, wire, sink).error == FrameError::None);
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0].header.masked);
  CHECK(sink.frames[0].header.header_size == 6);
  CHECK(sink.frames[0].header.mask == std::array<uint8_t, 4>{0x37, 0xfa, 0x21, 0x3d});
  CHECK(text_of(sink.frames[0].payload, sink.frames[0].header) == "Hello");
}

TEST_CASE("RFC 6455 5.7: a fragmented unmasked text message counts once, at its last fragment") {
  const std::vector<uint8_t> first{0x01, 0x03, 0x48, 0x65, 0x6c};
  const std::vector<uint8_t> second{0x80, 0x02, 0x6c, 0x6f};
  FrameTracker tracker(Direction::ServerToClient);
  Recorder sink;
  CHECK(feed_all(tracker, first, sink).error == FrameError::None);
  CHECK(tracker.in_fragmented_message());
  CHECK(tracker.messages() == 0);
  CHECK(feed_all(tracker, second, sink).error == FrameError::None);
  CHECK_FALSE(tracker.in_fragmented_message());
  CHECK(tracker.messages() == 1);
  REQUIRE(sink.frames.size() == 2);
  CHECK_FALSE(sink.frames[0].message_end);
  CHECK(sink.frames[1].message_end);
}

TEST_CASE("RFC 6455 5.7: ping, masked pong, 256-byte and 64KiB binary frames are tracked") {
  std::vector<uint8_t> server{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};  // unmasked Ping "Hello"
  const std::vector<uint8_t> pong{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  append_frame(server, {.opcode = 0x2, .length = 256});
  append_frame(server, {.opcode = 0x2, .length = 65536});
  CHECK(server[7] == 0x82);
  CHECK(server[8] == 0x7E);
  CHECK(server[9] == 0x01);
  CHECK(server[10] == 0x00);

  FrameTracker to_client(Direction::ServerToClient);
  Recorder sink;
  CHECK(feed_all(to_client, server, sink).error == FrameError::None);
  REQUIRE(sink.frames.size() == 3);
  CHECK(sink.frames[0].header.opcode == 0x9);
  CHECK_FALSE(sink.frames[0].message_end);  // control frames are not messages
  CHECK(sink.frames[1].header.header_size == 4);
  CHECK(sink.frames[1].header.payload_length == 256);
  CHECK(sink.frames[2].header.header_size == 10);
  CHECK(sink.frames[2].header.payload_length == 65536);
  CHECK(to_client.messages() == 2);

  FrameTracker to_server(Direction::ClientToServer);
  Recorder client_sink;
  CHECK(feed_all(to_server, pong, client_sink).error == FrameError::None);
  REQUIRE(client_sink.frames.size() == 1);
  CHECK(text_of(client_sink.frames[0].payload, client_sink.frames[0].header) == "Hello");
}

TEST_CASE("a control frame between fragments keeps the message open and is not counted") {
  std::vector<uint8_t> wire;
  append_frame(wire, {.fin = false, .opcode = 0x1, .length = 10, .masked = true});
  append_frame(wire, {.opcode = 0x9, .length = 3, .masked = true});
  append_frame(wire, {.fin = false, .opcode = 0x0, .length = 300, .masked = true});
  append_frame(wire, {.opcode = 0xA, .length = 0, .masked = true});
  append_frame(wire, {.opcode = 0x0, .length = 5, .masked = true});
  FrameTracker tracker(Direction::ClientToServer);
  Recorder sink;
  CHECK(feed_all(tracker, wire, sink).error == FrameError::None);
  CHECK(sink.order_ok);
  REQUIRE(sink.frames.size() == 5);
  CHECK(tracker.messages() == 1);
  CHECK(sink.frames[4].message_end);
  CHECK_FALSE(sink.frames[1].message_end);
}

TEST_CASE("a zero-length frame reports header and end with no payload") {
  std::vector<uint8_t> wire;
  append_frame(wire, {.opcode = 0x1, .length = 0});
  FrameTracker tracker(Direction::ServerToClient);
  Recorder sink;
  CHECK(feed_all(tracker, wire, sink).error == FrameError::None);
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0].ended);
  CHECK(sink.frames[0].payload.empty());
  CHECK(tracker.messages() == 1);
}

TEST_CASE("at_frame_boundary and payload_remaining follow a frame split inside header and payload") {
  std::vector<uint8_t> wire;
  append_frame(wire, {.opcode = 0x2, .length = 200, .masked = true});  // header 8 bytes
  FrameTracker tracker(Direction::ClientToServer);
  Recorder sink;
  CHECK(tracker.at_frame_boundary());
  tracker.feed(std::span<const uint8_t>(wire).first(3), sink);
  CHECK_FALSE(tracker.at_frame_boundary());
  CHECK(tracker.payload_remaining() == 0);
  tracker.feed(std::span<const uint8_t>(wire).subspan(3, 15), sink);  // header done, 10 payload bytes
  CHECK_FALSE(tracker.at_frame_boundary());
  CHECK(tracker.payload_remaining() == 190);
  CHECK(tracker.current_header().payload_length == 200);
  tracker.feed(std::span<const uint8_t>(wire).subspan(18), sink);
  CHECK(tracker.at_frame_boundary());
  CHECK(tracker.payload_remaining() == 0);
}

TEST_CASE("the message size limit counts the sum of fragments and allows exactly the limit") {
  std::vector<uint8_t> wire;
  append_frame(wire, {.fin = false, .opcode = 0x2, .length = 60});
  append_frame(wire, {.opcode = 0x0, .length = 40});
  append_frame(wire, {.opcode = 0x1, .length = 100});
  FrameTracker tracker(Direction::ServerToClient, 100);
  Recorder sink;
  CHECK(feed_all(tracker, wire, sink).error == FrameError::None);
  CHECK(tracker.messages() == 2);
}

TEST_CASE("RSV1 is accepted only once an extension was negotiated, other bits stay reserved") {
  std::vector<uint8_t> rsv1;
  append_frame(rsv1, {.rsv = 0x4, .opcode = 0x1, .length = 4});
  std::vector<uint8_t> rsv2;
  append_frame(rsv2, {.rsv = 0x2, .opcode = 0x1, .length = 4});
  Recorder sink;

  FrameTracker plain(Direction::ServerToClient);
  CHECK(plain.feed(rsv1, sink).error == FrameError::ReservedBits);

  FrameTracker deflate(Direction::ServerToClient);
  deflate.allow_rsv1(true);
  CHECK(deflate.feed(rsv1, sink).error == FrameError::None);
  CHECK(sink.frames.back().header.rsv == 0x4);
  CHECK(deflate.feed(rsv2, sink).error == FrameError::ReservedBits);

  FrameTracker unknown(Direction::ServerToClient);
  unknown.allow_rsv(0x7);
  CHECK(unknown.feed(rsv2, sink).error == FrameError::None);
  unknown.allow_rsv1(false);
  CHECK(unknown.feed(rsv2, sink).error == FrameError::ReservedBits);
}
