// Per-connection client policy: message rate limit (token buckets), keepalive pings and the idle
// timeout. Allocated at the 101 only when websocket.ping_interval, idle_timeout or
// messages_per_second is set, so connections without a policy pay nothing.
#pragma once

#include <array>
#include <cstdint>

#include "proxy/session.h"
#include "proxy/ws/frame_tracker.h"
#include "proxy/ws/token_bucket.h"

namespace ringway {

struct Session::ClientPolicy {
  ws::TokenBucket messages;  // data messages, counted at their first frame
  ws::TokenBucket controls;  // Ping and Pong (Close is never refused)
  uint64_t ping_interval_ms = 0;
  uint64_t idle_timeout_ms = 0;
  uint64_t last_client_ms = 0;  // last bytes from the client
  uint64_t last_any_ms = 0;     // last bytes either way

  // Keepalive: ringway's own Ping, and the client's matching Pong, which is absorbed.
  bool awaiting_pong = false;
  uint64_t ping_sent_ms = 0;
  std::array<uint8_t, 8> ping_payload{};
  // While a Pong is awaited, each client frame header is held until it is known not to be that
  // Pong (then it goes on), and a Pong of the right size is held whole to compare its payload.
  std::array<uint8_t, 14 + 125> hold{};
  uint8_t hold_size = 0;
  bool holding_pong = false;
  bool header_seen = false;
  bool frame_ended = false;
  ws::FrameHeader header{};

  void note_read(bool from_client, uint64_t now_ms) {
    last_any_ms = now_ms;
    if (from_client) last_client_ms = now_ms;
  }
  void on_client_header(const ws::FrameHeader& h) {
    header_seen = true;
    header = h;
  }
  void on_client_frame_end() { frame_ended = true; }
};

}  // namespace ringway
