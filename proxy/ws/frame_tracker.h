// Incremental WebSocket frame-header tracker (RFC 6455 section 5). It sees every byte that the relay
// passes on, keeps a few bytes of state, and reports frame headers, payload bytes and frame ends;
// payloads are never copied or unmasked in place. No libuv here: pure and fuzzable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ringway::ws {

enum class Opcode : uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA,
};

inline bool is_control(uint8_t opcode) { return (opcode & 0x8) != 0; }

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;     // the three RSV bits, as bits 2..0
  uint8_t opcode = 0;  // raw 4-bit opcode
  bool masked = false;
  std::array<uint8_t, 4> mask{};
  uint64_t payload_length = 0;
  uint8_t header_size = 0;  // 2..14 bytes
};

// Which side's frames are tracked: a client must mask, a server must not (RFC 6455 5.1).
enum class Direction : uint8_t { ClientToServer, ServerToClient };

enum class FrameError : uint8_t {
  None,
  MaskViolation,         // unmasked client frame, or masked server frame
  ReservedOpcode,        // 0x3-0x7, 0xB-0xF
  ReservedBits,          // RSV1-3 set (no extension negotiated)
  ControlTooLong,        // control frame payload > 125
  ControlFragmented,     // control frame without FIN
  LengthTopBit,          // 64-bit length with the most significant bit set
  NonMinimalLength,      // length encoded in more bytes than needed
  UnexpectedContinuation,// continuation frame with no message started
  ExpectedContinuation,  // a new Text/Binary frame while a fragmented message is open
  MessageTooBig,         // message (sum of fragments) over the configured limit
  RateLimited,           // the sink refused the frame (FrameSink::admit_frame): over a rate limit
};

const char* to_string(FrameError error);

// Close codes ringway sends or reads (RFC 6455 7.4.1); the contract says which one goes with what.
namespace close_code {
inline constexpr uint16_t Normal = 1000;
inline constexpr uint16_t GoingAway = 1001;       // drain and shutdown
inline constexpr uint16_t ProtocolError = 1002;   // a FrameError other than MessageTooBig
inline constexpr uint16_t NoStatus = 1005;        // never sent: "the Close frame had no code"
inline constexpr uint16_t PolicyViolation = 1008; // rate limit
inline constexpr uint16_t MessageTooBig = 1009;
inline constexpr uint16_t ServiceRestart = 1012;  // backend went away without a close
}  // namespace close_code

// The close code the contract assigns to a tracker error: 1009 for MessageTooBig, else 1002.
uint16_t close_code_for(FrameError error);

// Receives the tracker's events, in stream order. Default implementations do nothing.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // Asked once a header is complete, before anything of the frame is reported: a policy (e.g. a
  // message rate limit) may refuse it, which stops the tracker exactly as a protocol error does
  // (the frame's first byte is the error offset). Default: every frame is admitted.
  virtual FrameError admit_frame(const FrameHeader&) { return FrameError::None; }
  // A complete frame header was seen (the payload follows).
  virtual void on_frame_header(const FrameHeader&) {}
  // `bytes` of the current frame's payload (still masked if the frame is masked); `offset` is the
  // position of bytes[0] within the payload.
  virtual void on_frame_payload(const FrameHeader&, std::span<const uint8_t> /*bytes*/,
                                uint64_t /*offset*/) {}
  // The current frame ended. `message_end` is true when it completes a data message (FIN on a
  // Text/Binary/Continuation frame).
  virtual void on_frame_end(const FrameHeader&, bool /*message_end*/) {}
};

struct FeedResult {
  FrameError error = FrameError::None;
  // Bytes consumed. On error: the offset of the first byte of the offending frame's header, so that
  // the caller can pass on everything before it and stop there.
  size_t consumed = 0;
  // On error: how many of the offending frame's header bytes came in earlier feed() calls (consumed
  // is then 0). Those bytes were already passed on, so the receiving peer's stream is cut inside a
  // header: ringway must not append a frame of its own toward that peer (close it without a Close
  // frame). The sender, on the other stream, can still be sent its Close 1002 / 1009.
  uint8_t header_bytes_before = 0;
};

class FrameTracker {
 public:
  // max_message_size 0 = no limit. Checked from the headers, before any payload is read.
  explicit FrameTracker(Direction direction, uint64_t max_message_size = 0);

  // RSV bits (as FrameHeader::rsv: RSV1 = 0x4, RSV2 = 0x2, RSV3 = 0x1) that frames may carry.
  // Default 0: with no extension negotiated any RSV bit is a protocol error (RFC 6455 5.2). ringway
  // passes Sec-WebSocket-Extensions through untouched, so when the backend's 101 accepts an
  // extension the caller widens this for both directions (rsv_bits_for_extensions() in
  // proxy/ws/extensions.h tells which bits); permessage-deflate (RFC 7692) uses RSV1 only.
  // The per-frame rules of an extension (e.g. RSV1 only on a message's first frame) are left to the
  // endpoints, which are the ones that inflate.
  void allow_rsv(uint8_t bits);
  // Shorthand for permessage-deflate: allow (or again forbid) RSV1 alone.
  void allow_rsv1(bool allowed);

  // Tracks `data`, reporting events to `sink`. After an error the tracker stays failed.
  FeedResult feed(std::span<const uint8_t> data, FrameSink& sink);

  // True when no header or payload is partly seen: a frame of ringway's own may be inserted here
  // (control frames are allowed between the fragments of a message).
  bool at_frame_boundary() const;
  // True between the first and the last fragment of a data message.
  bool in_fragmented_message() const;
  FrameError error() const;
  uint64_t messages() const;  // completed data messages so far
  // Payload bytes of the data message in progress (its fragments so far), or of the last one.
  uint64_t message_size() const { return message_size_; }
  // The frame whose payload is passing (valid while !at_frame_boundary() and the header is whole).
  const FrameHeader& current_header() const { return current_; }
  // Payload bytes of the current frame still to come (0 at a boundary or inside a header).
  uint64_t payload_remaining() const;

 private:
  // Validates and decodes one header byte (the one at index header_have_ - 1) as it arrives, straight
  // into current_: no copy of the header bytes is kept.
  FrameError check_header_byte(uint8_t byte);
  FrameError check_data_frame_size(uint64_t payload_length) const;
  void begin_payload(FrameSink& sink);
  void end_frame(FrameSink& sink);

  // Laid out without holes, since every relayed connection has two trackers: 56 bytes. The byte
  // fields after current_ sit in its 7 bytes of tail padding ([[no_unique_address]] lets them).
  [[no_unique_address]] FrameHeader current_{};  // the header being read, then the frame passing
  Direction direction_;
  uint8_t allowed_rsv_ = 0;
  uint8_t header_need_ = 2;  // header size once known (2 until the second byte arrived)
  uint8_t header_have_ = 0;  // header bytes seen (a header can arrive split at any byte)
  FrameError error_ = FrameError::None;
  bool in_payload_ = false;
  bool message_open_ = false;
  uint64_t max_message_size_;
  uint64_t payload_seen_ = 0;
  uint64_t message_size_ = 0;
  uint64_t messages_ = 0;
};

// Builds an unfragmented frame (e.g. ringway's own Close 1001 / 1012) into `out`; returns its size.
// `mask`: a client-side frame must be masked (toward a backend); pass nullptr for server frames.
// `out` must hold 14 + payload bytes; payload must be <= 125 bytes for control frames.
size_t write_frame(std::span<uint8_t> out, Opcode opcode, std::span<const uint8_t> payload,
                   const std::array<uint8_t, 4>* mask);

// Builds a Close frame with `code` and a short `reason` (<= 123 bytes) into `out` (>= 14 + 125).
size_t write_close_frame(std::span<uint8_t> out, uint16_t code, std::string_view reason,
                         const std::array<uint8_t, 4>* mask);
// write_frame / write_close_frame return 0 (and write nothing) when `out` is too small or a control
// payload is over 125 bytes: a caller bug, never a network condition. The reason is cut to 123 bytes
// at a UTF-8 character boundary, so that the peer does not fail the connection with 1007.

// Frame size for a payload of `payload_size` bytes: what `out` must hold for write_frame.
size_t frame_size(size_t payload_size, bool masked);

// XORs payload bytes with the frame's mask in place; `offset` is the position of bytes[0] within the
// payload (as on_frame_payload reports it), so that slices can be unmasked one by one.
void unmask(std::span<uint8_t> bytes, const std::array<uint8_t, 4>& mask, uint64_t offset);

// The status code of a Close frame from the start of its payload (masked or not, as `header` says):
// 1005 (NoStatus) for an empty payload, 0 when fewer than two payload bytes are given (a one-byte
// Close payload is itself a protocol error).
uint16_t close_code_from_payload(const FrameHeader& header, std::span<const uint8_t> payload);

// Collects a Close frame's status code from the payload slices that on_frame_payload delivers, since
// the two code bytes may arrive in different reads. Reset it at each Close frame header.
class CloseCodeReader {
 public:
  void reset() { have_ = 0; }
  void add(const FrameHeader& header, std::span<const uint8_t> bytes, uint64_t offset);
  // As close_code_from_payload: 1005 for an empty payload, 0 while fewer than two bytes are known.
  uint16_t code(const FrameHeader& header) const;

 private:
  std::array<uint8_t, 2> bytes_{};
  uint8_t have_ = 0;
};

// True for a code that may appear in a Close frame on the wire (RFC 6455 7.4: 1000-1003, 1007-1014,
// 3000-4999; 1004-1006 and 1015 are reserved and never sent).
bool is_valid_close_code(uint16_t code);

}  // namespace ringway::ws
