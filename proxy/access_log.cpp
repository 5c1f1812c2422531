#include "proxy/access_log.h"

#include <charconv>
#include <system_error>

#include "proxy/log.h"

namespace ringway::access {
namespace {

// "%.3f" of the milliseconds: std::to_chars with a precision prints exactly what printf does, at a
// fraction of snprintf's cost (two of these per access-log line).
std::string millis(uint64_t ns) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<double>(ns) / 1e6,
                                       std::chars_format::fixed, 3);
  return ec == std::errc() ? std::string(buf, end) : std::string();
}

void count(metrics::WorkerMetrics& m, const ConnectionRecord& r) {
  m.closed[static_cast<size_t>(r.reason)].add(1);
  metrics::ErrorKind kind{};
  if (metrics::error_kind_for(r.reason, kind)) m.errors[static_cast<size_t>(kind)].add(1);
  // A backend that was connected but did not upgrade: it refused (its answer was relayed), or its
  // answer was not a valid upgrade (invalid HTTP, a bad accept key, closed, or none in time). The
  // successful upgrades were counted at the 101 (metrics::note_upgrade).
  if (r.tcp || r.backend_state == nullptr || r.status == 101) return;  // tcp mode has no upgrades
  metrics::UpgradeResult result{};
  switch (r.reason) {
    case CloseReason::Rejected: result = metrics::UpgradeResult::Rejected; break;
    case CloseReason::BadUpstreamResponse:
    case CloseReason::UpstreamTimeout: result = metrics::UpgradeResult::Error; break;
    default: return;  // e.g. the client left while the backend was answering
  }
  r.backend_state->stats.upgrades[static_cast<size_t>(result)].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

const char* closed_by(const ConnectionRecord& r) {
  if (r.status == 101) {
    if (r.client_closed_first) return "client";
    if (r.backend_closed_first) return "backend";
    if (r.ringway_code_to_client != 0 || r.ringway_code_to_backend != 0) return "ringway";
  }
  switch (r.reason) {
    case CloseReason::None: return "";
    case CloseReason::ClientClosed:
    case CloseReason::ClientError: return "client";
    case CloseReason::BackendClosed:
    case CloseReason::BackendVanished:
    case CloseReason::Rejected:
    case CloseReason::BadUpstreamResponse: return "backend";
    default: return "ringway";
  }
}

const char* ringway_reason(const ConnectionRecord& r) {
  switch (r.reason) {
    case CloseReason::Shutdown: return r.marks.go_away == metrics::GoAway::Drain ? "drain" : "shutdown";
    case CloseReason::BackendVanished: return "failover";
    case CloseReason::HandshakeTimeout:
    case CloseReason::UpstreamTimeout:
    case CloseReason::IdleTimeout:
    case CloseReason::PingTimeout:
    case CloseReason::LingerTimeout: return "timeout";
    case CloseReason::TooBig:
    case CloseReason::Overloaded:
    case CloseReason::RateLimited:
    case CloseReason::TooManyPerIp: return "limit";
    case CloseReason::BadRequest: return r.status == 431 ? "limit" : "";
    case CloseReason::Protocol: return "protocol";
    default: return "";
  }
}

int close_code(const ConnectionRecord& r) {
  if (r.client_closed_first && r.client_sent_close) return r.client_close_code;
  if (r.backend_closed_first && r.backend_sent_close) return r.backend_close_code;
  if (r.ringway_code_to_client != 0) return r.ringway_code_to_client;
  if (r.ringway_code_to_backend != 0) return r.ringway_code_to_backend;
  if (r.client_sent_close) return r.client_close_code;
  if (r.backend_sent_close) return r.backend_close_code;
  return -1;
}

void connection_ended(metrics::WorkerMetrics& metrics, const ConnectionRecord& r) {
  if constexpr (!metrics::kEnabled) return;  // RINGWAY_METRICS=0: neither counts nor a line
  count(metrics, r);
  // A bare connect (nothing sent, nothing answered) has no line: probes would drown the log.
  if (!r.tcp && r.status == 0 && r.reason == CloseReason::ClientClosed && r.path.empty()) return;
  const uint64_t start = r.marks.accepted_ns;
  const int code = close_code(r);
  log::info("connection closed",
            {{"client", std::string(r.client)},
             {"listener", std::string(r.listener)},
             {"mode", r.tcp ? "tcp" : "http"},
             {"pool", std::string(r.pool)},
             {"backend", std::string(r.backend)},
             {"path", std::string(r.path)},
             {"status", std::to_string(r.status)},
             {"handshake_ms", r.marks.upgraded_ns != 0 ? millis(r.marks.upgraded_ns - start) : std::string()},
             {"duration_ms", millis(r.ended_ns >= start ? r.ended_ns - start : 0)},
             {"bytes_in", std::to_string(r.bytes[0])},
             {"bytes_out", std::to_string(r.bytes[1])},
             {"messages_in", std::to_string(r.messages[0])},
             {"messages_out", std::to_string(r.messages[1])},
             {"close_code", code < 0 ? std::string() : std::to_string(code)},
             {"closed_by", closed_by(r)},
             {"ringway_reason", ringway_reason(r)},
             {"reason", to_string(r.reason)}});
}

void http_request_done(metrics::WorkerMetrics& metrics, const HttpRequestRecord& r) {
  if constexpr (!metrics::kEnabled) return;
  if (r.status >= 100 && r.status <= 599) {
    const size_t status_class = static_cast<size_t>(r.status / 100 - 1);
    if (r.backend_state != nullptr) {
      r.backend_state->stats.http_requests[status_class].fetch_add(1, std::memory_order_relaxed);
    } else {
      metrics.http_local[status_class].add(1);
    }
  }
  log::info("http request",
            {{"client", std::string(r.client)},
             {"listener", std::string(r.listener)},
             {"pool", std::string(r.pool)},
             {"backend", std::string(r.backend)},
             {"method", std::string(r.method)},
             {"path", std::string(r.path)},
             {"status", std::to_string(r.status)},
             {"bytes_in", std::to_string(r.bytes_in)},
             {"bytes_out", std::to_string(r.bytes_out)},
             {"duration_ms", millis(r.ended_ns >= r.started_ns ? r.ended_ns - r.started_ns : 0)}});
}

}  // namespace ringway::access
