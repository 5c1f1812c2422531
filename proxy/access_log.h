// The end of a connection, in one place: its access-log line and the metrics counted when a
// connection finishes (errors by kind, closes by reason, refused upgrades).
//
// One line per finished connection, with the message "connection closed", as text or JSON
// (--log-format json; every value is a JSON string, like every other log line). A bare TCP connect
// that never sent a byte of a request head is not logged (load-balancer probes), but it is counted.
// Fields:
//   client, listener, pool, backend, path   who and where ("" when not known yet)
//   mode           http | tcp: the listener's mode (a tcp line has no path, status 0, no
//                  messages and no close code; its bytes are every byte relayed)
//   status         sent to the client: 101, ringway's error status, or the backend's refusal
//   handshake_ms   accept to the 101 relayed ("" without a 101); duration_ms: accept to the end
//   bytes_in/out, messages_in/out   from the client (in) and from the backend (out): WebSocket
//                  frame bytes after the 101 (headers included), completed data messages
//   close_code     the first Close frame's code ("" when none was seen)
//   closed_by      client | backend | ringway: who started the end
//   ringway_reason drain | shutdown | failover | timeout | limit | protocol, when ringway ended it
//   reason         the CloseReason label (proxy/close_reason.h)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "health/backend_state.h"
#include "proxy/close_reason.h"
#include "proxy/metrics.h"

namespace ringway::access {

struct ConnectionRecord {
  std::string_view client;
  std::string_view listener;
  bool tcp = false;  // a mode: tcp listener: every such connection is logged (no bare-connect skip)
  std::string_view pool;
  std::string_view backend;  // "" unless a backend was connected
  std::string_view path;
  health::BackendState* backend_state = nullptr;  // with `backend`
  int status = 0;
  CloseReason reason = CloseReason::None;
  metrics::SessionMarks marks;
  uint64_t ended_ns = 0;
  std::array<uint64_t, metrics::kDirections> bytes{};
  std::array<uint64_t, metrics::kDirections> messages{};
  // Close frames: each peer's first (with whether it started the close handshake), and ringway's
  // own toward each peer.
  bool client_sent_close = false;
  bool backend_sent_close = false;
  uint16_t client_close_code = 0;
  uint16_t backend_close_code = 0;
  bool client_closed_first = false;
  bool backend_closed_first = false;
  uint16_t ringway_code_to_client = 0;
  uint16_t ringway_code_to_backend = 0;
};

// Counts the finished connection in `metrics` (and on its backend) and writes its access-log line.
void connection_ended(metrics::WorkerMetrics& metrics, const ConnectionRecord& record);

// The derived fields, on their own for tests. "" where the line has nothing to say.
const char* closed_by(const ConnectionRecord& record);
const char* ringway_reason(const ConnectionRecord& record);
// The first Close frame's code (ringway's own when it started the end); -1 when there was none.
int close_code(const ConnectionRecord& record);

// One plain HTTP request (not an upgrade) through an http listener: its own line, message
// "http request", besides the connection's line when the connection ends. Fields: client, listener,
// pool, backend ("" when no backend got the request), method, path, status (0: no response was
// sent, e.g. the client left), bytes_in (request body bytes forwarded), bytes_out (response bytes
// sent, heads included), duration_ms (the request head complete to the response written).
struct HttpRequestRecord {
  std::string_view client;
  std::string_view listener;
  std::string_view pool;
  std::string_view backend;
  health::BackendState* backend_state = nullptr;  // with `backend`
  std::string_view method;
  std::string_view path;
  int status = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t started_ns = 0;
  uint64_t ended_ns = 0;
};

// Counts the request in ringway_http_requests_total (on its backend, or as ringway's own answer)
// and writes its line.
void http_request_done(metrics::WorkerMetrics& metrics, const HttpRequestRecord& record);

}  // namespace ringway::access
