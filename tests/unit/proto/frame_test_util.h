// Test helpers for the frame tracker: a sink that records whole frames, and a builder for frames
// that write_frame refuses to make (fragments, RSV bits, non-minimal lengths).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "proxy/ws/frame_tracker.h"

namespace ringway::ws::test {

inline constexpr std::array<uint8_t, 4> kMask{0x37, 0xfa, 0x21, 0x3d};

struct RecordedFrame {
  FrameHeader header;
  std::vector<uint8_t> payload;  // as on the wire (still masked)
  bool ended = false;
  bool message_end = false;
};

// Records frames; checks that payload slices arrive in order, contiguous, and within the frame.
class Recorder : public FrameSink {
 public:
  std::vector<RecordedFrame> frames;
  bool order_ok = true;

  void on_frame_header(const FrameHeader& header) override {
    if (!frames.empty() && !frames.back().ended) order_ok = false;
    frames.push_back({header, {}, false, false});
  }
  void on_frame_payload(const FrameHeader&, std::span<const uint8_t> bytes, uint64_t offset) override {
    if (frames.empty() || frames.back().ended || offset != frames.back().payload.size() || bytes.empty()) {
      order_ok = false;
      return;
    }
    frames.back().payload.insert(frames.back().payload.end(), bytes.begin(), bytes.end());
    if (frames.back().payload.size() > frames.back().header.payload_length) order_ok = false;
  }
  void on_frame_end(const FrameHeader&, bool message_end) override {
    if (frames.empty() || frames.back().ended ||
        frames.back().payload.size() != frames.back().header.payload_length) {
      order_ok = false;
    }
    if (!frames.empty()) {
      frames.back().ended = true;
      frames.back().message_end = message_end;
    }
  }
};

enum class LengthForm : uint8_t { Minimal, Force16, Force64 };

struct FrameSpec {
  bool fin = true;
  uint8_t rsv = 0;
  uint8_t opcode = 0x2;
  uint64_t length = 0;
  bool masked = false;
  LengthForm form = LengthForm::Minimal;
  uint64_t length_field = 0;  // when nonzero, written instead of `length` (for top-bit tests)
};

// Appends a frame whose payload is bytes (i * 7 + 3) & 0xFF, masked with kMask when masked.
inline void append_frame(std::vector<uint8_t>& out, const FrameSpec& spec) {
  out.push_back(static_cast<uint8_t>((spec.fin ? 0x80 : 0) | (spec.rsv << 4) | spec.opcode));
  const uint8_t mask_bit = spec.masked ? 0x80 : 0;
  const uint64_t field = spec.length_field != 0 ? spec.length_field : spec.length;
  LengthForm form = spec.form;
  if (form == LengthForm::Minimal) {
    form = field > 0xFFFF ? LengthForm::Force64 : (field >= 126 ? LengthForm::Force16 : LengthForm::Minimal);
  }
  if (form == LengthForm::Force64) {
    out.push_back(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(field >> shift));
  } else if (form == LengthForm::Force16) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<uint8_t>(field >> 8));
    out.push_back(static_cast<uint8_t>(field));
  } else {
    out.push_back(static_cast<uint8_t>(mask_bit | field));
  }
  if (spec.masked) out.insert(out.end(), kMask.begin(), kMask.end());
  for (uint64_t i = 0; i < spec.length; ++i) {
    auto byte = static_cast<uint8_t>((i * 7 + 3) & 0xFF);
    if (spec.masked) byte ^= kMask[i & 3];
    out.push_back(byte);
  }
}

inline std::vector<uint8_t> bytes_of(std::string_view text) {
  return {text.begin(), text.end()};
}

}  // namespace ringway::ws::test
