#include <doctest/doctest.h>

#include <string>

#include "frame_test_util.h"
#include "proxy/ws/extensions.h"
#include "proxy/ws/frame_tracker.h"

using namespace ringway::ws;
using namespace ringway::ws::test;

TEST_CASE("write_frame round trips through the tracker at every length form, masked or not") {
  for (const size_t size : {0UL, 1UL, 125UL, 126UL, 65535UL, 65536UL, 70001UL}) {
    for (const bool masked : {false, true}) {
      CAPTURE(size);
      CAPTURE(masked);
      std::vector<uint8_t> payload(size);
      for (size_t i = 0; i < size; ++i) payload[i] = static_cast<uint8_t>(i * 13);
      std::vector<uint8_t> out(frame_size(size, masked));
      const size_t written = write_frame(out, Opcode::Binary, payload, masked ? &kMask : nullptr);
      CHECK(written == out.size());

      FrameTracker tracker(masked ? Direction::ClientToServer : Direction::ServerToClient);
      Recorder sink;
      const FeedResult result = tracker.feed(out, sink);
      CHECK(result.error == FrameError::None);
      REQUIRE(sink.frames.size() == 1);
      std::vector<uint8_t> seen = sink.frames[0].payload;
      if (masked) unmask(seen, sink.frames[0].header.mask, 0);
      CHECK(seen == payload);
      CHECK(sink.frames[0].header.fin);
      CHECK(sink.frames[0].header.opcode == 0x2);
      CHECK(tracker.messages() == 1);
    }
  }
}

TEST_CASE("write_frame refuses a too small buffer and an oversized control payload") {
  std::vector<uint8_t> payload(126);
  std::vector<uint8_t> out(200);
  CHECK(write_frame(out, Opcode::Ping, payload, nullptr) == 0);
  std::vector<uint8_t> small(5);
  CHECK(write_frame(small, Opcode::Text, std::span<const uint8_t>(payload).first(4), nullptr) == 0);
  CHECK(write_frame(small, Opcode::Text, std::span<const uint8_t>(payload).first(3), nullptr) == 5);
}

TEST_CASE("a Close frame written by ringway carries its code and reason, readable in pieces") {
  std::array<uint8_t, 14 + 125> out{};
  const size_t size = write_close_frame(out, close_code::GoingAway, "draining", &kMask);
  REQUIRE(size == 6 + 2 + 8);
  FrameTracker tracker(Direction::ClientToServer);

  struct CloseSink : FrameSink {
    CloseCodeReader reader;
    std::string reason;
    void on_frame_header(const FrameHeader&) override { reader.reset(); }
    void on_frame_payload(const FrameHeader& h, std::span<const uint8_t> bytes, uint64_t offset) override {
      reader.add(h, bytes, offset);
      std::vector<uint8_t> copy(bytes.begin(), bytes.end());
      unmask(copy, h.mask, offset);
      for (size_t i = 0; i < copy.size(); ++i) {
        if (offset + i >= 2) reason.push_back(static_cast<char>(copy[i]));
      }
    }
  } sink;
  // One byte at a time: the code's two bytes come in different reads.
  for (size_t i = 0; i < size; ++i) {
    CHECK(tracker.feed(std::span<const uint8_t>(out).subspan(i, 1), sink).error == FrameError::None);
  }
  FrameHeader header;
  header.payload_length = 10;
  CHECK(sink.reader.code(header) == 1001);
  CHECK(sink.reason == "draining");
}

TEST_CASE("close_code_from_payload reads masked and unmasked codes, 1005 for an empty payload") {
  std::array<uint8_t, 14 + 125> out{};
  const size_t size = write_close_frame(out, 1012, "", nullptr);
  FrameHeader header;
  header.payload_length = 2;
  CHECK(close_code_from_payload(header, std::span<const uint8_t>(out).subspan(2, size - 2)) == 1012);

  write_close_frame(out, 4000, "x", &kMask);
  FrameHeader masked;
  masked.masked = true;
  masked.mask = kMask;
  masked.payload_length = 3;
  CHECK(close_code_from_payload(masked, std::span<const uint8_t>(out).subspan(6, 3)) == 4000);

  FrameHeader empty;
  CHECK(close_code_from_payload(empty, {}) == close_code::NoStatus);
  FrameHeader one_byte;
  one_byte.payload_length = 1;
  const uint8_t lone = 3;
  CHECK(close_code_from_payload(one_byte, std::span<const uint8_t>(&lone, 1)) == 0);
}

TEST_CASE("a long close reason is cut to 123 bytes at a UTF-8 character boundary") {
  std::string reason(122, 'a');
  reason += "\xc3\xa9";  // a 2-byte character straddling the 123-byte limit
  std::array<uint8_t, 14 + 125> out{};
  const size_t size = write_close_frame(out, 1000, reason, nullptr);
  CHECK(size == 2 + 2 + 122);
  const std::string ascii(200, 'b');
  CHECK(write_close_frame(out, 1000, ascii, nullptr) == 2 + 125);
}

TEST_CASE("close code validity follows RFC 6455 7.4") {
  CHECK(is_valid_close_code(1000));
  CHECK(is_valid_close_code(1001));
  CHECK(is_valid_close_code(1012));
  CHECK(is_valid_close_code(4999));
  CHECK_FALSE(is_valid_close_code(999));
  CHECK_FALSE(is_valid_close_code(1004));
  CHECK_FALSE(is_valid_close_code(1005));
  CHECK_FALSE(is_valid_close_code(1006));
  CHECK_FALSE(is_valid_close_code(1015));
  CHECK_FALSE(is_valid_close_code(2000));
  CHECK_FALSE(is_valid_close_code(5000));
}

TEST_CASE("negotiated extensions decide which RSV bits frames may carry") {
  CHECK(rsv_bits_for_extensions("") == 0);
  CHECK(rsv_bits_for_extensions("permessage-deflate") == 0x4);
  CHECK(rsv_bits_for_extensions("permessage-deflate; server_no_context_takeover; client_max_window_bits=10") == 0x4);
  CHECK(rsv_bits_for_extensions("PerMessage-Deflate") == 0x4);
  CHECK(rsv_bits_for_extensions("x-custom; a=\"1,2\"") == 0x7);
  CHECK(rsv_bits_for_extensions("permessage-deflate, x-custom") == 0x7);
}
