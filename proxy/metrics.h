// Metrics on the data path: per-worker counters that only the worker's own thread writes, summed
// when /metrics is read (DESIGN.md). A counter is a relaxed atomic written with load + store (one
// writer: no read-modify-write, no lock), so that a scrape from another thread reads whole values.
// Nothing here allocates or looks anything up: a message costs a few increments of fixed slots.
//
// Per-backend numbers that change once per connection (upgrade outcomes, handshake times, connect
// failures, live connections) live in health::BackendState, shared by identity across reloads and
// added to by every worker (atomics). The exposition is in metrics_text.{h,cpp}; gathering a scrape
// from the workers and the running configuration in metrics_scrape.{h,cpp}.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "health/backend_state.h"
#include "proxy/close_reason.h"
#include "proxy/ws/frame_tracker.h"

// RINGWAY_METRICS (CMake option, default ON): 0 compiles out the per-message and per-connection
// metric updates (FlowObserver, note_upgrade, note_go_away) and the access-log line with its
// end-of-connection counts (access_log.cpp); the call sites stay and /metrics answers with zeros.
// Counter itself is untouched: it also backs listener state that logic reads (ListenerState::active).
#ifndef RINGWAY_METRICS
#define RINGWAY_METRICS 1
#endif

namespace ringway::metrics {

inline constexpr bool kEnabled = RINGWAY_METRICS != 0;

// A monotonic counter (or a gauge that goes up and down) written by one thread and read by any.
// It also stands in for a plain uint64_t field: ++, -- and reading as a number.
class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }
  Counter& operator++() { add(1); return *this; }
  Counter& operator--() { sub(1); return *this; }
  operator uint64_t() const { return get(); }  // NOLINT: a drop-in for uint64_t fields

 private:
  std::atomic<uint64_t> v_{0};
};

// Relay directions, in the order of their label values.
enum class Dir : uint8_t { ClientToBackend, BackendToClient };
inline constexpr size_t kDirections = 2;
inline constexpr std::array<const char*, kDirections> kDirectionNames{"client_to_backend", "backend_to_client"};

// ringway_errors_total{kind}, in the contract's order; every
// kind is always exposed.
enum class ErrorKind : uint8_t { BadRequest, HandshakeTimeout, NoBackend, ConnectFailed, Protocol, TooBig, RateLimited, Tls };
inline constexpr size_t kErrorKinds = 8;
inline constexpr std::array<const char*, kErrorKinds> kErrorKindNames{
    "bad_request", "handshake_timeout", "no_backend", "connect_failed", "protocol", "too_big", "rate_limited", "tls"};

// ringway_upgrades_total{result}; the slots of health::BackendStats::upgrades.
enum class UpgradeResult : uint8_t { Ok, Rejected, Error };
inline constexpr std::array<const char*, 3> kUpgradeResultNames{"ok", "rejected", "error"};

// ringway_http_requests_total{code_class}: plain HTTP requests by final status class; the slots of
// health::BackendStats::http_requests and WorkerMetrics::http_local.
inline constexpr std::array<const char*, 5> kStatusClassNames{"1xx", "2xx", "3xx", "4xx", "5xx"};

// Who sent a Close frame: one of the peers, or ringway itself (1001, 1002, 1009, 1012).
enum class Side : uint8_t { Client, Backend, Ringway };
inline constexpr size_t kSides = 3;
inline constexpr std::array<const char*, kSides> kSideNames{"client", "backend", "ringway"};

// Close codes as label values, in a fixed set of slots (a peer may send any of 3000-4999: the label
// set must stay bounded). 1000-1015 each have a slot; then 3xxx, 4xxx, and "invalid" for anything
// else (including a Close payload of one byte). 1005 means "a Close frame without a code".
inline constexpr size_t kCloseCodeSlots = 16 + 3;
size_t close_code_slot(uint16_t code);
const char* close_code_label(size_t slot);

// Finished connections by CloseReason (None excluded from the exposition). LingerTimeout is the
// enum's last value.
inline constexpr size_t kCloseReasons = static_cast<size_t>(CloseReason::LingerTimeout) + 1;

// Why ringway told a connection to go away with 1001.
enum class GoAway : uint8_t { None, Drain, Shutdown };
inline constexpr std::array<const char*, 2> kGoAwayNames{"drain", "shutdown"};

// Histogram bounds. Message sizes (payload bytes of a whole message): powers of 4 from 64 B to
// 16 MiB, so the bucket is found from the bit width. Handshakes (accept to the 101 relayed): 100 us
// to 10 s, in nanoseconds.
inline constexpr std::array<uint64_t, 10> kMessageSizeBounds{
    64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216};
inline constexpr std::array<uint64_t, 16> kHandshakeBoundsNs{
    100'000,     250'000,     500'000,       1'000'000,     2'500'000,     5'000'000,
    10'000'000,  25'000'000,  50'000'000,    100'000'000,   250'000'000,   500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
static_assert(kHandshakeBoundsNs.size() + 1 <= health::BackendStats::kHandshakeSlots,
              "health::BackendStats must hold every handshake bucket");

// Bucket of a message size: the first bound >= size, or the +Inf slot (kMessageSizeBounds.size()).
inline size_t message_size_bucket(uint64_t size) {
  if (size <= kMessageSizeBounds[0]) return 0;
  // size in (64*4^(i-1), 64*4^i]  <=>  bit_width(size - 1) in {6 + 2i - 1, 6 + 2i}
  const size_t i = (static_cast<size_t>(std::bit_width(size - 1)) - 5) / 2;
  return i < kMessageSizeBounds.size() ? i : kMessageSizeBounds.size();
}
size_t handshake_bucket(uint64_t ns);

// Non-cumulative bucket counts (the last one is +Inf) and the sum of observed values.
template <size_t Bounds>
struct Histogram {
  std::array<Counter, Bounds + 1> buckets;
  Counter sum;
  void observe(size_t bucket, uint64_t value) {
    buckets[bucket].add(1);
    sum.add(value);
  }
};

// One worker's counters. Only that worker's thread writes them.
struct WorkerMetrics {
  std::array<Counter, kDirections> messages;  // completed data messages (text/binary)
  std::array<Counter, kDirections> bytes;     // WebSocket frame bytes read after the 101
  std::array<Histogram<kMessageSizeBounds.size()>, kDirections> message_size;
  std::array<std::array<Counter, kCloseCodeSlots>, kSides> closes;  // Close frames by sender
  std::array<Counter, kErrorKinds> errors;
  std::array<Counter, kCloseReasons> closed;  // finished connections by CloseReason
  std::array<Counter, 2> go_away;             // connections told to go away: drain, shutdown
  Counter failovers;                          // Close 1012 sent: the backend vanished
  Counter coalesced_sleeps;                   // wakeup coalescing: sleeps instead of blocking
  Counter edge_triggered;                     // relayed sockets polled edge-triggered (edge_poll.h)
  // Plain HTTP requests that ringway answered itself before any backend got them (400 bad body
  // framing, 405, 502 connect failed, 503), by status class: exposed with pool="" and backend="".
  std::array<Counter, kStatusClassNames.size()> http_local;
};

// Watches one relay direction's frames: counts messages, message sizes and Close frames, and
// remembers the Close codes for the access log. Every relay Flow has one, fed by the FlowSink that
// wraps each frame-tracker feed; it is no FrameSink itself and is handed the worker's metrics on
// each call rather than keeping a pointer, so that the two per connection stay small (12 bytes).
class FlowObserver {
 public:
  explicit FlowObserver(Dir dir) : dir_(static_cast<uint8_t>(dir)) {}

  // The frame tracker's events (as ws::FrameSink's).
  void on_frame_header(const ws::FrameHeader& header);
  void on_frame_payload(const ws::FrameHeader& header, std::span<const uint8_t> bytes, uint64_t offset);
  // `message_size`: the payload bytes of the data message that ends (FrameTracker::message_size()).
  void on_frame_end(WorkerMetrics& metrics, const ws::FrameHeader& header, bool message_end,
                    uint64_t message_size);

  // Frame bytes read from this direction's sender (headers included).
  void add_bytes(WorkerMetrics& metrics, uint64_t n) {
    if constexpr (kEnabled) metrics.bytes[dir_].add(n);
  }
  // ringway queued a Close of its own toward this direction's receiver (sent at the next frame
  // boundary)...
  void ringway_close(uint16_t code) {
    if (ringway_code_ == 0) ringway_code_ = code;
    pending_code_ = code;
  }
  // ... and wrote it: counted now, so that a Close that never got out is not.
  void ringway_close_sent(WorkerMetrics& metrics);

  bool saw_close() const { return saw_close_; }
  // The code of the sender's first Close: 1005 when it had none, 0 when its payload was one byte.
  uint16_t close_code() const { return close_code_; }
  uint16_t ringway_code() const { return ringway_code_; }  // ringway's Close toward the receiver; 0 = none

 private:
  uint8_t dir_;
  bool saw_close_ = false;
  uint16_t close_code_ = 0;
  uint16_t ringway_code_ = 0;
  uint16_t pending_code_ = 0;
  ws::CloseCodeReader close_reader_;
};

// What a session notes for its metrics and access log line besides its flows.
struct SessionMarks {
  uint64_t accepted_ns = 0;  // uv_hrtime() at accept
  uint64_t upgraded_ns = 0;  // ... when the 101 was relayed; 0 when there was none
  GoAway go_away = GoAway::None;
};

// The backend's 101 was relayed: counts the upgrade and observes the handshake time.
void note_upgrade(SessionMarks& marks, health::BackendState& backend, uint64_t now_ns);
// The session was told to go away (idempotent: the first cause counts).
void note_go_away(WorkerMetrics& metrics, SessionMarks& marks, bool shutting_down);

// The error kind a finished connection counts under, if any.
bool error_kind_for(CloseReason reason, ErrorKind& kind);

}  // namespace ringway::metrics
