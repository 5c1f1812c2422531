// FrameTracker: whatever the bytes and however they are split into reads, the tracker reports the
// same frames, the same error at the same stream offset, and payload slices in order.
// Input: [flags][split seed][stream...]
//   flags bit 0: direction (1 = client to server); bits 1-3: allowed RSV bits; bits 4-5: size limit.
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "proxy/ws/frame_tracker.h"

namespace {

using namespace ringway::ws;

bool g_deep = false;

// Summarises what the tracker reported, checking event order as it goes.
class Summary : public FrameSink {
 public:
  uint64_t headers = 0;
  uint64_t ends = 0;
  uint64_t message_ends = 0;
  uint64_t payload_bytes = 0;
  uint64_t frame_bytes = 0;  // header + payload of completed frames
  uint64_t checksum = 0;
  uint64_t close_codes = 0;

  void on_frame_header(const FrameHeader& header) override {
    FUZZ_CHECK(!open_);
    FUZZ_CHECK(header.header_size >= 2 && header.header_size <= 14);
    FUZZ_CHECK(!is_control(header.opcode) || (header.payload_length <= 125 && header.fin));
    FUZZ_CHECK((header.payload_length >> 63) == 0);
    open_ = true;
    seen_ = 0;
    ++headers;
    checksum = checksum * 31 + header.opcode + header.payload_length;
    reader_.reset();
  }
  void on_frame_payload(const FrameHeader& header, std::span<const uint8_t> bytes, uint64_t offset) override {
    FUZZ_CHECK(open_);
    FUZZ_CHECK(!bytes.empty());
    FUZZ_CHECK(offset == seen_);
    seen_ += bytes.size();
    FUZZ_CHECK(seen_ <= header.payload_length);
    payload_bytes += bytes.size();
    for (const uint8_t b : bytes) checksum = checksum * 131 + b;
    if (header.opcode == 0x8) reader_.add(header, bytes, offset);
  }
  void on_frame_end(const FrameHeader& header, bool message_end) override {
    FUZZ_CHECK(open_);
    FUZZ_CHECK(seen_ == header.payload_length);
    FUZZ_CHECK(message_end == (!is_control(header.opcode) && header.fin));
    open_ = false;
    ++ends;
    message_ends += message_end ? 1 : 0;
    frame_bytes += header.header_size + header.payload_length;
    if (header.opcode == 0x8) close_codes += reader_.code(header);
  }

  bool operator==(const Summary& o) const {
    return headers == o.headers && ends == o.ends && message_ends == o.message_ends &&
           payload_bytes == o.payload_bytes && frame_bytes == o.frame_bytes && checksum == o.checksum &&
           close_codes == o.close_codes;
  }

 private:
  bool open_ = false;
  uint64_t seen_ = 0;
  CloseCodeReader reader_;
};

struct Run {
  Summary summary;
  FrameError error = FrameError::None;
  uint64_t error_offset = 0;
  uint64_t messages = 0;
  bool boundary = false;
};

FrameTracker make_tracker(uint8_t flags) {
  static constexpr std::array<uint64_t, 4> kLimits{0, 1, 126, 70000};
  FrameTracker tracker((flags & 1) != 0 ? Direction::ClientToServer : Direction::ServerToClient,
                       kLimits[(flags >> 4) & 3]);
  tracker.allow_rsv(static_cast<uint8_t>((flags >> 1) & 7));
  return tracker;
}

Run feed_split(uint8_t flags, std::span<const uint8_t> stream, uint32_t split_seed) {
  FrameTracker tracker = make_tracker(flags);
  Run run;
  size_t pos = 0;
  uint32_t state = split_seed * 2654435761U + 1;
  while (pos < stream.size()) {
    size_t n = stream.size() - pos;
    if (split_seed != 0) {
      state = state * 1103515245U + 12345U;
      n = std::min<size_t>(n, 1 + ((state >> 16) % 17));
    }
    const FeedResult result = tracker.feed(stream.subspan(pos, n), run.summary);
    if (result.error != FrameError::None) {
      FUZZ_CHECK(result.consumed <= n);
      FUZZ_CHECK(result.header_bytes_before == 0 || result.consumed == 0);
      FUZZ_CHECK(result.header_bytes_before <= 13);
      FUZZ_CHECK(tracker.error() == result.error);
      run.error = result.error;
      run.error_offset = pos + result.consumed - result.header_bytes_before;
      // A failed tracker stays failed.
      const FeedResult again = tracker.feed(stream.subspan(pos, n), run.summary);
      FUZZ_CHECK(again.error == result.error && again.consumed == 0);
      break;
    }
    FUZZ_CHECK(result.consumed == n);
    pos += n;
  }
  run.messages = tracker.messages();
  run.boundary = tracker.at_frame_boundary();
  return run;
}

// Frames ringway writes itself must pass a tracker of the matching direction.
void check_writer(std::span<const uint8_t> stream, bool client) {
  const std::array<uint8_t, 4> mask{0xA1, 0x00, 0x5C, 0xFF};
  const std::string_view reason(reinterpret_cast<const char*>(stream.data()), std::min<size_t>(stream.size(), 200));
  const uint16_t code = stream.size() >= 2 ? static_cast<uint16_t>((stream[0] << 8) | stream[1]) : 1000;
  std::array<uint8_t, 14 + 125> out{};
  const size_t size = write_close_frame(out, code, reason, client ? &mask : nullptr);
  FUZZ_CHECK(size >= 4 && size <= out.size());
  FrameTracker tracker(client ? Direction::ClientToServer : Direction::ServerToClient);
  Summary summary;
  const FeedResult result = tracker.feed(std::span<const uint8_t>(out.data(), size), summary);
  FUZZ_CHECK(result.error == FrameError::None && summary.ends == 1);
  FUZZ_CHECK(summary.close_codes == code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_deep = false;
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  const uint8_t split = data[1];
  const std::span<const uint8_t> stream(data + 2, size - 2);

  const Run whole = feed_split(flags, stream, 0);
  g_deep = whole.summary.ends >= 2;
  const Run pieces = feed_split(flags, stream, split | 0x100U);
  FUZZ_CHECK(whole.error == pieces.error);
  FUZZ_CHECK(whole.error_offset == pieces.error_offset);
  FUZZ_CHECK(whole.messages == pieces.messages);
  FUZZ_CHECK(whole.summary.message_ends == whole.messages);
  FUZZ_CHECK(whole.summary == pieces.summary);
  FUZZ_CHECK(whole.boundary == pieces.boundary);
  if (whole.error == FrameError::None) {
    // Every byte is in a completed frame exactly when the stream ends on a boundary.
    FUZZ_CHECK(whole.boundary == (whole.summary.frame_bytes == stream.size()));
  } else {
    FUZZ_CHECK(whole.error_offset == whole.summary.frame_bytes);
  }
  check_writer(stream, (flags & 1) != 0);
  return 0;
}

namespace ringway::fuzz {

bool last_input_was_deep() { return g_deep; }

std::vector<std::string> seeds() {
  const auto s = [](std::initializer_list<uint8_t> bytes) { return std::string(bytes.begin(), bytes.end()); };
  std::vector<std::string> out = {
      // server frames (flags 0): RFC 6455 5.7 "Hello", fragments, ping
      s({0x00, 0x07, 0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}),
      s({0x00, 0x01, 0x01, 0x03, 'H', 'e', 'l', 0x89, 0x00, 0x80, 0x02, 'l', 'o'}),
      s({0x20, 0x03, 0x82, 0x7E, 0x00, 0x80}),
      s({0x30, 0x05, 0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}),
      s({0x08, 0x09, 0xC1, 0x01, 0x00, 0x88, 0x02, 0x03, 0xE8}),
      // client frames (flags 1): masked "Hello", masked close 1001, masked pong
      s({0x01, 0x02, 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
      s({0x01, 0x04, 0x88, 0x82, 1, 2, 3, 4, 0x02, 0xEB, 0x8A, 0x80, 9, 9, 9, 9}),
      s({0x11, 0x0B, 0x02, 0x81, 0, 0, 0, 0, 'a', 0x80, 0xFE, 0x00, 0x7E, 1, 1, 1, 1}),
  };
  std::string big = s({0x00, 0x10, 0x82, 0x7E, 0x01, 0x00});
  big.append(256, 'x');
  out.push_back(big);
  return out;
}

std::vector<std::string> dictionary() {
  return {std::string("\x81\x85", 2), std::string("\x7E\x00\x7E", 3), std::string("\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 9),
          std::string("\x88\x02\x03\xE8", 4), std::string("\x00\x00", 2), std::string("\x80\x00", 2),
          std::string("\x89\x80\x00\x00\x00\x00", 6)};
}

}  // namespace ringway::fuzz
