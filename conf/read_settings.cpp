// The optional global sections: websocket, limits, timeouts, shutdown, admin, and `workers`.
#include <array>
#include <charconv>
#include <string>
#include <system_error>
#include <limits>
#include <string_view>

#include "conf/sections.h"
#include "conf/values.h"

namespace ringway::conf {
namespace {

constexpr std::array<std::string_view, 5> kWebSocketKeys = {
    "max_message_size", "ping_interval", "idle_timeout", "messages_per_second", "burst"};
constexpr std::array<std::string_view, 3> kLimitsKeys = {"max_connections", "max_connections_per_ip",
                                                         "max_header_size"};
constexpr std::array<std::string_view, 3> kTimeoutsKeys = {"connect", "handshake", "response"};
constexpr std::array<std::string_view, 2> kShutdownKeys = {"delay", "drain_timeout"};
constexpr std::array<std::string_view, 1> kAdminKeys = {"bind"};

constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

}  // namespace

void read_websocket(const Field& field, WebSocket& out, Diagnostics& diag) {
  const MapReader map(field, kWebSocketKeys, diag, true);
  if (const auto value = map.get("max_message_size")) {
    assign(read_size(*value, diag), out.max_message_size);
  }
  if (const auto value = map.get("ping_interval")) {
    assign(read_duration(*value, Zero::Allowed, diag), out.ping_interval);
  }
  if (const auto value = map.get("idle_timeout")) {
    assign(read_duration(*value, Zero::Allowed, diag), out.idle_timeout);
  }
  if (const auto value = map.get("messages_per_second")) {
    assign(read_integer(*value, 0, kMaxU32, diag), out.messages_per_second);
  }
  if (const auto value = map.get("burst")) {
    assign(read_integer(*value, 0, kMaxU32, diag), out.burst);
  }
}

void read_limits(const Field& field, Limits& out, Diagnostics& diag) {
  const MapReader map(field, kLimitsKeys, diag, true);
  if (const auto value = map.get("max_connections")) {
    assign(read_integer(*value, 0, kMaxU64, diag), out.max_connections);
  }
  if (const auto value = map.get("max_connections_per_ip")) {
    assign(read_integer(*value, 0, kMaxU64, diag), out.max_connections_per_ip);
  }
  if (const auto value = map.get("max_header_size")) {
    assign(read_size(*value, diag), out.max_header_size);
  }
}

void read_timeouts(const Field& field, Timeouts& out, Diagnostics& diag) {
  // A zero connect, handshake or response timeout would fail every connection: refused.
  const MapReader map(field, kTimeoutsKeys, diag, true);
  if (const auto value = map.get("connect")) {
    assign(read_duration(*value, Zero::Refused, diag), out.connect);
  }
  if (const auto value = map.get("handshake")) {
    assign(read_duration(*value, Zero::Refused, diag), out.handshake);
  }
  if (const auto value = map.get("response")) {
    assign(read_duration(*value, Zero::Refused, diag), out.response);
  }
}

void read_shutdown(const Field& field, Shutdown& out, Diagnostics& diag) {
  const MapReader map(field, kShutdownKeys, diag, true);
  if (const auto value = map.get("delay")) {
    assign(read_duration(*value, Zero::Allowed, diag), out.delay);
  }
  if (const auto value = map.get("drain_timeout")) {
    assign(read_duration(*value, Zero::Allowed, diag), out.drain_timeout);
  }
}

void read_admin(const Field& field, Admin& out, SourceMarks& marks, Diagnostics& diag) {
  const MapReader map(field, kAdminKeys, diag, true);
  if (const auto value = map.get("bind")) {
    marks.admin_bind = value->value();
    out.bind = read_endpoint(*value, diag);
  }
}

// `auto` or a count. The cap keeps a typo (`workers: 640`) from starting hundreds of threads, each
// with a listening socket per listener and two 64 KiB slabs.
void read_workers(const Field& field, uint32_t& out, Diagnostics& diag) {
  if (field.node.IsScalar() && field.node.Scalar() == "auto") {
    out = kWorkersAuto;
    return;
  }
  const std::string expected = "\"auto\" or an integer from 1 to " + std::to_string(kMaxWorkers);
  if (field.node.IsScalar()) {
    const std::string& text = field.node.Scalar();
    uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (!text.empty() && ec == std::errc{} && ptr == end && value >= 1 && value <= kMaxWorkers) {
      out = static_cast<uint32_t>(value);
      return;
    }
  }
  type_error(field, expected, diag);
}

void read_wakeup_coalescing(const Field& field, uint32_t& out, Diagnostics& diag) {
  if (field.node.IsScalar()) {
    if (const auto us = parse_microseconds(field.node.Scalar(), kMaxWakeupCoalescingUs)) {
      out = *us;
      return;
    }
  }
  type_error(field, "0 or a time from 1us to 1ms (\"50us\")", diag);
}

}  // namespace ringway::conf
