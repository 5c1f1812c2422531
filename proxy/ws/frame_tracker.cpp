// The frame-header state machine. Header bytes are validated as each one arrives, so that an error is
// found as early as the stream allows (most at the first or second byte of a frame), and the size
// limit is checked from the length field, before a single payload byte is passed on.
#include "proxy/ws/frame_tracker.h"

#include <algorithm>

namespace ringway::ws {
namespace {

constexpr uint8_t kMaxControlPayload = 125;

bool is_reserved_opcode(uint8_t opcode) {
  return (opcode >= 0x3 && opcode <= 0x7) || opcode >= 0xB;
}

// Extended length bytes announced by the 7-bit length field (RFC 6455 5.2).
uint8_t extended_length_size(uint8_t length7) {
  if (length7 == 126) return 2;
  if (length7 == 127) return 8;
  return 0;
}

// The size of the frame header at the start of `bytes` when all of it is there, else 0.
size_t whole_header_size(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) return 0;
  const size_t size = 2U + extended_length_size(bytes[1] & 0x7F) + ((bytes[1] & 0x80) != 0 ? 4U : 0U);
  return bytes.size() >= size ? size : 0;
}

}  // namespace

const char* to_string(FrameError error) {
  switch (error) {
    case FrameError::None: return "none";
    case FrameError::MaskViolation: return "mask violation";
    case FrameError::ReservedOpcode: return "reserved opcode";
    case FrameError::ReservedBits: return "reserved bits set";
    case FrameError::ControlTooLong: return "control frame too long";
    case FrameError::ControlFragmented: return "fragmented control frame";
    case FrameError::LengthTopBit: return "64-bit length with top bit set";
    case FrameError::NonMinimalLength: return "non-minimal length encoding";
    case FrameError::UnexpectedContinuation: return "continuation without a message";
    case FrameError::ExpectedContinuation: return "new message inside a fragmented message";
    case FrameError::MessageTooBig: return "message too big";
    case FrameError::RateLimited: return "rate limited";
  }
  return "unknown";
}

uint16_t close_code_for(FrameError error) {
  if (error == FrameError::MessageTooBig) return close_code::MessageTooBig;
  if (error == FrameError::RateLimited) return close_code::PolicyViolation;
  return close_code::ProtocolError;
}

FrameTracker::FrameTracker(Direction direction, uint64_t max_message_size)
    : direction_(direction), max_message_size_(max_message_size) {}

void FrameTracker::allow_rsv(uint8_t bits) { allowed_rsv_ = bits & 0x7; }

void FrameTracker::allow_rsv1(bool allowed) { allow_rsv(allowed ? 0x4 : 0); }

bool FrameTracker::at_frame_boundary() const { return header_have_ == 0 && !in_payload_; }

bool FrameTracker::in_fragmented_message() const { return message_open_; }

FrameError FrameTracker::error() const { return error_; }

uint64_t FrameTracker::messages() const { return messages_; }

uint64_t FrameTracker::payload_remaining() const {
  return in_payload_ ? current_.payload_length - payload_seen_ : 0;
}

FrameError FrameTracker::check_data_frame_size(uint64_t payload_length) const {
  if (is_control(current_.opcode) || max_message_size_ == 0) return FrameError::None;
  const uint64_t before = current_.opcode == static_cast<uint8_t>(Opcode::Continuation) ? message_size_ : 0;
  // Written as a subtraction so that a huge 64-bit length cannot overflow the sum.
  if (payload_length > max_message_size_ || before > max_message_size_ - payload_length) {
    return FrameError::MessageTooBig;
  }
  return FrameError::None;
}

FrameError FrameTracker::check_header_byte() {
  const size_t index = header_have_ - 1U;
  if (index == 0) {
    const uint8_t b0 = header_bytes_[0];
    current_ = FrameHeader{};
    current_.fin = (b0 & 0x80) != 0;
    current_.rsv = static_cast<uint8_t>((b0 >> 4) & 0x7);
    current_.opcode = b0 & 0x0F;
    const uint8_t opcode = current_.opcode;
    if (is_reserved_opcode(opcode)) return FrameError::ReservedOpcode;
    if ((current_.rsv & ~allowed_rsv_) != 0) return FrameError::ReservedBits;
    if (is_control(opcode)) {
      if (!current_.fin) return FrameError::ControlFragmented;
    } else if (opcode == static_cast<uint8_t>(Opcode::Continuation)) {
      if (!message_open_) return FrameError::UnexpectedContinuation;
    } else if (message_open_) {
      return FrameError::ExpectedContinuation;
    }
    return FrameError::None;
  }

  const uint8_t length7 = header_bytes_[1] & 0x7F;
  const uint8_t extended = extended_length_size(length7);
  if (index == 1) {
    current_.masked = (header_bytes_[1] & 0x80) != 0;
    if (current_.masked != (direction_ == Direction::ClientToServer)) return FrameError::MaskViolation;
    if (is_control(current_.opcode) && length7 > kMaxControlPayload) return FrameError::ControlTooLong;
    header_need_ = static_cast<uint8_t>(2 + extended + (current_.masked ? 4 : 0));
    if (extended == 0) {
      current_.payload_length = length7;
      return check_data_frame_size(length7);
    }
    return FrameError::None;
  }

  if (extended != 0 && index == 1U + extended) {
    uint64_t length = 0;
    for (size_t i = 2; i < 2U + extended; ++i) length = (length << 8) | header_bytes_[i];
    if (extended == 8) {
      if ((length >> 63) != 0) return FrameError::LengthTopBit;
      if (length <= 0xFFFF) return FrameError::NonMinimalLength;
    } else if (length < 126) {
      return FrameError::NonMinimalLength;
    }
    current_.payload_length = length;
    return check_data_frame_size(length);
  }
  return FrameError::None;
}

void FrameTracker::begin_payload(FrameSink& sink) {
  current_.header_size = header_need_;
  if (current_.masked) {
    std::copy_n(header_bytes_.begin() + (header_need_ - 4), 4, current_.mask.begin());
  }
  header_have_ = 0;
  if (!is_control(current_.opcode)) {
    if (current_.opcode != static_cast<uint8_t>(Opcode::Continuation)) {
      message_size_ = 0;
      message_open_ = !current_.fin;
    }
    message_size_ += current_.payload_length;
  }
  payload_seen_ = 0;
  in_payload_ = current_.payload_length != 0;
  sink.on_frame_header(current_);
  if (!in_payload_) end_frame(sink);
}

void FrameTracker::end_frame(FrameSink& sink) {
  in_payload_ = false;
  const bool message_end = !is_control(current_.opcode) && current_.fin;
  if (message_end) {
    message_open_ = false;
    ++messages_;
  }
  sink.on_frame_end(current_, message_end);
}

FeedResult FrameTracker::feed(std::span<const uint8_t> data, FrameSink& sink) {
  if (error_ != FrameError::None) return {error_, 0, 0};
  size_t pos = 0;
  size_t frame_start = 0;
  // A header that began in an earlier call: its first bytes have been passed on already.
  uint8_t header_bytes_before = in_payload_ ? 0 : header_have_;
  while (pos < data.size()) {
    if (in_payload_) {
      const uint64_t remaining = current_.payload_length - payload_seen_;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining, data.size() - pos));
      const uint64_t offset = payload_seen_;
      payload_seen_ += n;
      sink.on_frame_payload(current_, data.subspan(pos, n), offset);
      pos += n;
      if (payload_seen_ == current_.payload_length) end_frame(sink);
      continue;
    }
    if (header_have_ == 0) {
      frame_start = pos;
      header_bytes_before = 0;
      header_need_ = 2;
      // Nearly always the whole header is here: it is taken at once and checked only where
      // check_header_byte has something to check (its first, second and last length byte), in the
      // same order, so that the outcome, errors included, is that of the byte-by-byte path below.
      const size_t whole = whole_header_size(data.subspan(pos));
      if (whole != 0) {
        std::copy_n(data.begin() + static_cast<ptrdiff_t>(pos), whole, header_bytes_.begin());
        const uint8_t extended = extended_length_size(header_bytes_[1] & 0x7F);
        const uint8_t checked[3] = {1, 2, static_cast<uint8_t>(2 + extended)};
        for (size_t i = 0; i < (extended != 0 ? 3U : 2U); ++i) {
          header_have_ = checked[i];
          const FrameError error = check_header_byte();
          if (error != FrameError::None) {
            error_ = error;
            return {error, frame_start, 0};
          }
        }
        header_have_ = static_cast<uint8_t>(whole);
        pos += whole;
      }
    }
    if (header_have_ < header_need_) {  // byte by byte: a header split across reads
      header_bytes_[header_have_++] = data[pos++];
      const FrameError error = check_header_byte();
      if (error != FrameError::None) {
        error_ = error;
        return {error, frame_start, header_bytes_before};
      }
    }
    if (header_have_ >= 2 && header_have_ == header_need_) {
      const FrameError refused = sink.admit_frame(current_);
      if (refused != FrameError::None) {
        error_ = refused;
        return {refused, frame_start, header_bytes_before};
      }
      begin_payload(sink);
    }
  }
  return {FrameError::None, data.size(), 0};
}

}  // namespace ringway::ws
