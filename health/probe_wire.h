// The bytes of the http and websocket checks and how their answers are judged (pure: no sockets).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proxy/ws/frame_tracker.h"

namespace ringway::health {

// GET `path` with Host, and Connection: close (one request per check).
std::string http_check_request(std::string_view host, std::string_view path);
// A WebSocket upgrade of `path` with the key `key` (base64 of 16 bytes).
std::string websocket_check_request(std::string_view host, std::string_view path, std::string_view key);
// base64 of 16 bytes, for Sec-WebSocket-Key.
std::string websocket_key(const std::array<uint8_t, 16>& bytes);

// "" when `status` means up (2xx, 3xx), else the reason: "status 503".
std::string judge_http_status(int status);

// Reads the backend's frames after the 101 of a websocket check: unmasked server frames, data
// messages ignored, a Pong with the payload sent, a Close, or a broken stream.
class CheckFrameReader {
 public:
  explicit CheckFrameReader(std::span<const uint8_t> ping_payload);

  struct Seen {
    bool pong = false;   // a Pong whose payload is the Ping's
    bool close = false;  // a Close frame
    ws::FrameError error = ws::FrameError::None;
  };
  // Feeds the next bytes; what they completed is added to seen().
  void feed(std::span<const uint8_t> bytes);
  const Seen& seen() const { return seen_; }

 private:
  struct Sink final : ws::FrameSink {
    CheckFrameReader* reader = nullptr;
    void on_frame_header(const ws::FrameHeader& header) override;
    void on_frame_payload(const ws::FrameHeader& header, std::span<const uint8_t> bytes,
                          uint64_t offset) override;
    void on_frame_end(const ws::FrameHeader& header, bool message_end) override;
  };

  ws::FrameTracker tracker_;
  Sink sink_;
  std::array<uint8_t, 125> expected_{};
  size_t expected_size_ = 0;
  std::array<uint8_t, 125> payload_{};  // the current control frame's payload
  size_t payload_size_ = 0;
  Seen seen_;
};

}  // namespace ringway::health
