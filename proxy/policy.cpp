// The client policy half of a session (see client_policy.h): what ringway enforces on an
// established WebSocket because it sees frames: a message rate limit, keepalive pings to clients
// that went quiet (closing both legs of a dead one), and an idle timeout.
#include <algorithm>
#include <cstring>
#include <limits>

#include "proxy/client_policy.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/worker.h"

namespace ringway {

void Session::start_policy() {
  const conf::WebSocket& settings = runtime_->config->websocket;
  if (settings.ping_interval.count() == 0 && settings.idle_timeout.count() == 0 &&
      settings.messages_per_second == 0) {
    return;
  }
  policy_ = std::make_unique<ClientPolicy>();
  const uint64_t now = uv_now(worker().loop());
  policy_->messages.configure(settings.messages_per_second, settings.burst, now);
  policy_->controls.configure(settings.messages_per_second, settings.burst, now);
  policy_->ping_interval_ms = static_cast<uint64_t>(settings.ping_interval.count());
  policy_->idle_timeout_ms = static_cast<uint64_t>(settings.idle_timeout.count());
  policy_->last_client_ms = policy_->last_any_ms = now;
  arm_policy_timer();
}

// One timer per session at the nearest deadline; reads only move timestamps (no timer calls on
// the data path), and an early wake-up simply re-arms.
void Session::arm_policy_timer() {
  if (!policy_ || grace_armed_ || phase_ != Phase::Relaying) return;
  const ClientPolicy& p = *policy_;
  uint64_t next = std::numeric_limits<uint64_t>::max();
  if (p.idle_timeout_ms != 0) next = std::min(next, p.last_any_ms + p.idle_timeout_ms);
  if (p.ping_interval_ms != 0) {
    next = std::min(next, p.awaiting_pong ? p.ping_sent_ms + p.ping_interval_ms
                                          : p.last_client_ms + p.ping_interval_ms);
  }
  if (next == std::numeric_limits<uint64_t>::max()) return;
  const uint64_t now = uv_now(worker().loop());
  arm_timer(TimerPurpose::Policy, next > now ? next - now : 0);
}

void Session::on_policy_timer() {
  if (!policy_ || grace_armed_ || phase_ != Phase::Relaying) return;
  ClientPolicy& p = *policy_;
  const uint64_t now = uv_now(worker().loop());
  if (p.idle_timeout_ms != 0 && now - p.last_any_ms >= p.idle_timeout_ms) {
    end_on_policy(CloseReason::IdleTimeout, ws::close_code::GoingAway, "idle timeout");
    return;
  }
  if (p.ping_interval_ms != 0) {
    if (p.awaiting_pong && now - p.ping_sent_ms >= p.ping_interval_ms) {
      // No Pong within one more interval: the client is gone (vanished without a FIN, or hung).
      // The backend gets a Close as if the client had left; the client's socket is cut.
      log::warn("client did not answer ping", {{"client", std::string(client_ip())},
                                                {"backend", pool_->backends[backend_index_]->config->name}});
      reason_ = CloseReason::PingTimeout;
      client_dead_ = true;
      c2b_.discard = true;
      b2c_.discard = true;
      send_close(c2b_, ws::close_code::GoingAway, "client went away");
      start_close_grace();
      maybe_finish();
      return;
    }
    if (!p.awaiting_pong && now - p.last_client_ms >= p.ping_interval_ms) send_ping();
  }
  arm_policy_timer();
}

void Session::send_ping() {
  ClientPolicy& p = *policy_;
  if (b2c_.close_sent || b2c_.insert_size != 0) return;
  if (!b2c_.tracker.at_frame_boundary()) {
    // The backend is in the middle of a frame toward the client: try again shortly.
    arm_timer(TimerPurpose::Policy, 50);
    return;
  }
  const uint64_t token = uv_hrtime();
  std::memcpy(p.ping_payload.data(), &token, p.ping_payload.size());
  std::array<uint8_t, 14 + 8> frame{};
  const size_t size = ws::write_frame(frame, ws::Opcode::Ping, p.ping_payload, nullptr);
  p.awaiting_pong = true;
  p.ping_sent_ms = uv_now(worker().loop());
  write_through(b2c_, std::span<const uint8_t>(frame.data(), size));
}

ws::FrameError Session::admit_client_frame(const ws::FrameHeader& header) {
  ClientPolicy& p = *policy_;
  if (!p.messages.enabled()) return ws::FrameError::None;
  const uint64_t now = uv_now(worker().loop());
  if (ws::is_control(header.opcode)) {
    // A Close is how a client leaves: never refused. Pings and Pongs have their own bucket, so
    // they can neither flood the backend nor eat the message budget.
    if (header.opcode == static_cast<uint8_t>(ws::Opcode::Close)) return ws::FrameError::None;
    return p.controls.take(now) ? ws::FrameError::None : ws::FrameError::RateLimited;
  }
  if (header.opcode == static_cast<uint8_t>(ws::Opcode::Continuation)) return ws::FrameError::None;
  return p.messages.take(now) ? ws::FrameError::None : ws::FrameError::RateLimited;
}

// The client's bytes while ringway's Ping is unanswered: frame by frame, holding each header until
// it is known whether it starts that Pong; the matching Pong is absorbed, everything else goes on
// unchanged and in order.
void Session::relay_watching_pong(std::span<const uint8_t> bytes) {
  ClientPolicy& p = *policy_;
  auto flush_hold = [&]() -> bool {
    const uint8_t size = p.hold_size;
    p.hold_size = 0;
    if (size == 0 || c2b_.discard) return true;
    return write_through(c2b_, std::span<const uint8_t>(p.hold.data(), size));
  };
  while (!bytes.empty() && phase_ == Phase::Relaying && p.awaiting_pong && !c2b_.violated) {
    const uint64_t payload_left = c2b_.tracker.payload_remaining();
    const bool hold = p.hold_size > 0 || c2b_.tracker.at_frame_boundary();
    size_t take = 1;  // header bytes one at a time (at most 14, once per ping)
    if (p.holding_pong || (!hold && payload_left != 0)) {
      take = static_cast<size_t>(std::min<uint64_t>(payload_left, bytes.size()));
    }
    p.header_seen = p.frame_ended = false;
    const std::span<const uint8_t> chunk = bytes.first(take);
    FlowSink sink(*this, c2b_);
    const ws::FeedResult result = c2b_.tracker.feed(chunk, sink);
    c2b_.bytes += result.consumed;
    if (result.error != ws::FrameError::None) {
      p.hold_size = 0;  // the held bytes are the offending frame's: never forwarded
      on_protocol_violation(c2b_, result.error);
      return;
    }
    if (hold) {
      std::copy(chunk.begin(), chunk.end(), p.hold.begin() + p.hold_size);
      p.hold_size = static_cast<uint8_t>(p.hold_size + chunk.size());
    } else if (!c2b_.discard && !write_through(c2b_, chunk)) {
      return;
    }
    bytes = bytes.subspan(take);
    if (hold && !p.holding_pong && p.header_seen) {
      const bool may_be_ours = p.header.opcode == static_cast<uint8_t>(ws::Opcode::Pong) &&
                               p.header.payload_length == p.ping_payload.size();
      if (may_be_ours) {
        p.holding_pong = true;
      } else if (!flush_hold()) {
        return;
      }
    }
    if (p.holding_pong && p.frame_ended) {
      p.holding_pong = false;
      std::array<uint8_t, 8> payload{};
      std::copy_n(p.hold.begin() + p.header.header_size, payload.size(), payload.begin());
      ws::unmask(payload, p.header.mask, 0);
      if (payload == p.ping_payload) {
        p.hold_size = 0;  // ours: absorbed, the backend never sees it
        p.awaiting_pong = false;
        arm_policy_timer();
      } else if (!flush_hold()) {
        return;
      }
    }
    if (p.hold_size == 0 && c2b_.insert_size != 0 && c2b_.tracker.at_frame_boundary()) emit_insert(c2b_);
  }
  if (!bytes.empty() && phase_ == Phase::Relaying) relay_bytes(c2b_, bytes);
}

void Session::end_on_policy(CloseReason why, uint16_t client_code, std::string_view reason) {
  reason_ = why;
  log::info("closing websocket", {{"reason", to_string(why)},
                                  {"client", std::string(client_ip())},
                                  {"backend", pool_->backends[backend_index_]->config->name}});
  send_close(b2c_, client_code, reason);
  send_close(c2b_, ws::close_code::GoingAway, reason);
  start_close_grace();
  maybe_finish();
}

}  // namespace ringway
