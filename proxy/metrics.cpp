#include "proxy/metrics.h"

#include <algorithm>

namespace ringway::metrics {
namespace {

constexpr size_t kSlot3xxx = 16;
constexpr size_t kSlot4xxx = 17;
constexpr size_t kSlotInvalid = 18;

constexpr std::array<const char*, kCloseCodeSlots> kCloseCodeLabels{
    "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009",
    "1010", "1011", "1012", "1013", "1014", "1015", "3xxx", "4xxx", "invalid"};

}  // namespace

size_t close_code_slot(uint16_t code) {
  if (code >= 1000 && code <= 1015) return code - 1000U;
  if (code >= 3000 && code <= 3999) return kSlot3xxx;
  if (code >= 4000 && code <= 4999) return kSlot4xxx;
  return kSlotInvalid;
}

const char* close_code_label(size_t slot) {
  return slot < kCloseCodeLabels.size() ? kCloseCodeLabels[slot] : "invalid";
}

size_t handshake_bucket(uint64_t ns) {
  return static_cast<size_t>(std::lower_bound(kHandshakeBoundsNs.begin(), kHandshakeBoundsNs.end(), ns) -
                             kHandshakeBoundsNs.begin());
}

void FlowObserver::on_frame_header(const ws::FrameHeader& header) {
  if (header.opcode == static_cast<uint8_t>(ws::Opcode::Close)) close_reader_.reset();
}

void FlowObserver::on_frame_payload(const ws::FrameHeader& header, std::span<const uint8_t> bytes,
                                    uint64_t offset) {
  if (header.opcode == static_cast<uint8_t>(ws::Opcode::Close)) close_reader_.add(header, bytes, offset);
}

void FlowObserver::on_frame_end(WorkerMetrics& metrics, const ws::FrameHeader& header, bool message_end,
                                uint64_t message_size) {
  if (message_end) {
    if constexpr (kEnabled) {
      metrics.messages[dir_].add(1);
      metrics.message_size[dir_].observe(message_size_bucket(message_size), message_size);
    }
    return;
  }
  if (header.opcode != static_cast<uint8_t>(ws::Opcode::Close)) return;
  const uint16_t code = close_reader_.code(header);
  if (!saw_close_) {
    saw_close_ = true;
    close_code_ = code;
  }
  if constexpr (!kEnabled) return;  // the Close code is still kept (cheap: one per connection)
  const Side side = dir_ == static_cast<uint8_t>(Dir::ClientToBackend) ? Side::Client : Side::Backend;
  metrics.closes[static_cast<size_t>(side)][close_code_slot(code)].add(1);
}

void FlowObserver::ringway_close_sent(WorkerMetrics& metrics) {
  if constexpr (!kEnabled) return;
  metrics.closes[static_cast<size_t>(Side::Ringway)][close_code_slot(pending_code_)].add(1);
  if (pending_code_ == ws::close_code::ServiceRestart) metrics.failovers.add(1);
}

void note_upgrade(SessionMarks& marks, health::BackendState& backend, uint64_t now_ns) {
  marks.upgraded_ns = now_ns;
  if constexpr (!kEnabled) return;
  const uint64_t took = now_ns >= marks.accepted_ns ? now_ns - marks.accepted_ns : 0;
  health::BackendStats& stats = backend.stats;
  stats.upgrades[static_cast<size_t>(UpgradeResult::Ok)].fetch_add(1, std::memory_order_relaxed);
  stats.handshake_buckets[handshake_bucket(took)].fetch_add(1, std::memory_order_relaxed);
  stats.handshake_ns.fetch_add(took, std::memory_order_relaxed);
}

void note_go_away(WorkerMetrics& metrics, SessionMarks& marks, bool shutting_down) {
  if (marks.go_away != GoAway::None) return;
  marks.go_away = shutting_down ? GoAway::Shutdown : GoAway::Drain;
  if constexpr (!kEnabled) return;
  metrics.go_away[shutting_down ? 1 : 0].add(1);
}

bool error_kind_for(CloseReason reason, ErrorKind& kind) {
  switch (reason) {
    case CloseReason::BadRequest: kind = ErrorKind::BadRequest; return true;
    case CloseReason::HandshakeTimeout: kind = ErrorKind::HandshakeTimeout; return true;
    case CloseReason::NoBackend: kind = ErrorKind::NoBackend; return true;
    case CloseReason::ConnectFailed: kind = ErrorKind::ConnectFailed; return true;
    case CloseReason::Protocol: kind = ErrorKind::Protocol; return true;
    case CloseReason::TooBig: kind = ErrorKind::TooBig; return true;
    case CloseReason::RateLimited: kind = ErrorKind::RateLimited; return true;
    case CloseReason::Tls: kind = ErrorKind::Tls; return true;
    case CloseReason::BackendTls: kind = ErrorKind::ConnectFailed; return true;
    case CloseReason::ProxyProtocol: kind = ErrorKind::BadRequest; return true;  // closed_total tells them apart
    default: return false;
  }
}

}  // namespace ringway::metrics
