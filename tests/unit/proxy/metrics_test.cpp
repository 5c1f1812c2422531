// Metrics: the text exposition (escaping, histograms), the per-worker counters and their sum, the
// relay's frame observer, and the access log's derived fields.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/access_log.h"
#include "proxy/metrics.h"
#include "proxy/metrics_scrape.h"
#include "proxy/metrics_text.h"
#include "proxy/ws/frame_tracker.h"

using namespace ringway;
using namespace ringway::metrics;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The value of the one sample line that starts with `series` (name and labels, exactly).
std::string value_of(const std::string& text, const std::string& series) {
  std::string found;
  int matches = 0;
  for (const std::string& line : lines_of(text)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      found = line.substr(series.size() + 1);
      ++matches;
    }
  }
  REQUIRE_MESSAGE(matches == 1, series, " appears ", matches, " times in\n", text);
  return found;
}

// A whole frame as a peer sends it (client frames masked).
std::vector<uint8_t> frame(ws::Opcode opcode, std::string_view payload, bool masked, bool fin = true) {
  static constexpr std::array<uint8_t, 4> kMask{1, 2, 3, 4};
  std::vector<uint8_t> out(ws::frame_size(payload.size(), masked));
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  const size_t n = ws::write_frame(out, opcode, std::span(p, payload.size()), masked ? &kMask : nullptr);
  out.resize(n);
  if (!fin) out[0] &= 0x7F;
  return out;
}

std::vector<uint8_t> close_frame(uint16_t code, bool masked) {
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload += "bye";
  return frame(ws::Opcode::Close, payload, masked);
}

// Passes a tracker's events to an observer, as the relay's FlowSink does.
struct ObserverSink final : ws::FrameSink {
  WorkerMetrics& metrics;
  const ws::FrameTracker& tracker;
  FlowObserver& observer;
  ObserverSink(WorkerMetrics& m, const ws::FrameTracker& t, FlowObserver& o) : metrics(m), tracker(t), observer(o) {}
  void on_frame_header(const ws::FrameHeader& h) override { observer.on_frame_header(h); }
  void on_frame_payload(const ws::FrameHeader& h, std::span<const uint8_t> bytes, uint64_t offset) override {
    observer.on_frame_payload(h, bytes, offset);
  }
  void on_frame_end(const ws::FrameHeader& h, bool message_end) override {
    observer.on_frame_end(metrics, h, message_end, tracker.message_size());
  }
};

// Feeds `bytes` one byte at a time (the hardest split) and counts them as the relay does.
void feed_bytewise(WorkerMetrics& metrics, ws::FrameTracker& tracker, FlowObserver& observer,
                   const std::vector<uint8_t>& bytes) {
  ObserverSink sink(metrics, tracker, observer);
  for (const uint8_t b : bytes) {
    const ws::FeedResult r = tracker.feed(std::span<const uint8_t>(&b, 1), sink);
    REQUIRE(r.error == ws::FrameError::None);
    observer.add_bytes(metrics, r.consumed);
  }
}

}  // namespace

TEST_CASE("label values escape backslash, double quote and line feed, and nothing else") {
  std::string out;
  append_label_value(out, "a\\b\"c\nd\te/é");
  CHECK(out == "a\\\\b\\\"c\\nd\te/é");
  TextWriter w;
  w.family("x_total", "counter", "Help with a \\ and a\nline feed.");
  w.sample("x_total", {{"pool", "we\"ird\\pool\n"}, {"backend", "b1"}}, uint64_t{7});
  CHECK(w.text() ==
        "# HELP x_total Help with a \\\\ and a\\nline feed.\n"
        "# TYPE x_total counter\n"
        "x_total{pool=\"we\\\"ird\\\\pool\\n\",backend=\"b1\"} 7\n");
}

TEST_CASE("a sample without labels has no braces; values print in Prometheus spelling") {
  TextWriter w;
  w.sample("g", {}, uint64_t{3});
  w.sample("h", {}, 0.25);
  CHECK(w.text() == "g 3\nh 0.25\n");
  CHECK(format_value(1.0) == "1");
  CHECK(format_value(0.0001) == "0.0001");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
}

TEST_CASE("a histogram has cumulative buckets ending with +Inf, then _sum and _count") {
  TextWriter w;
  const std::array<double, 3> bounds{0.001, 0.01, 0.1};
  const std::array<uint64_t, 4> counts{2, 0, 3, 1};
  w.histogram("lat_seconds", {{"pool", "p"}}, bounds, counts, 1.5);
  CHECK(w.text() ==
        "lat_seconds_bucket{pool=\"p\",le=\"0.001\"} 2\n"
        "lat_seconds_bucket{pool=\"p\",le=\"0.01\"} 2\n"
        "lat_seconds_bucket{pool=\"p\",le=\"0.1\"} 5\n"
        "lat_seconds_bucket{pool=\"p\",le=\"+Inf\"} 6\n"
        "lat_seconds_sum{pool=\"p\"} 1.5\n"
        "lat_seconds_count{pool=\"p\"} 6\n");
}

TEST_CASE("message size buckets: each bound is inclusive, past the last is +Inf") {
  CHECK(message_size_bucket(0) == 0);
  CHECK(message_size_bucket(64) == 0);
  CHECK(message_size_bucket(65) == 1);
  for (size_t i = 0; i < kMessageSizeBounds.size(); ++i) {
    CHECK(message_size_bucket(kMessageSizeBounds[i]) == i);
    CHECK(message_size_bucket(kMessageSizeBounds[i] + 1) == i + 1);
  }
  CHECK(message_size_bucket(uint64_t{1} << 40) == kMessageSizeBounds.size());
}

TEST_CASE("handshake buckets run from 100 us to 10 s, bounds inclusive") {
  CHECK(handshake_bucket(0) == 0);
  CHECK(handshake_bucket(100'000) == 0);
  CHECK(handshake_bucket(100'001) == 1);
  CHECK(handshake_bucket(10'000'000'000) == kHandshakeBoundsNs.size() - 1);
  CHECK(handshake_bucket(10'000'000'001) == kHandshakeBoundsNs.size());
}

TEST_CASE("close codes map to a bounded set of label values") {
  CHECK(std::string(close_code_label(close_code_slot(1000))) == "1000");
  CHECK(std::string(close_code_label(close_code_slot(1012))) == "1012");
  CHECK(std::string(close_code_label(close_code_slot(3001))) == "3xxx");
  CHECK(std::string(close_code_label(close_code_slot(4999))) == "4xxx");
  CHECK(std::string(close_code_label(close_code_slot(0))) == "invalid");
  CHECK(std::string(close_code_label(close_code_slot(2000))) == "invalid");
}

TEST_CASE("the observer counts messages, their sizes (fragments summed) and Close codes, split at every byte") {
  WorkerMetrics m;
  ws::FrameTracker c2b(ws::Direction::ClientToServer);
  FlowObserver client(Dir::ClientToBackend);
  std::vector<uint8_t> wire;
  auto append = [&](const std::vector<uint8_t>& f) { wire.insert(wire.end(), f.begin(), f.end()); };
  append(frame(ws::Opcode::Text, "hello", true));                      // 5 bytes: bucket 0
  append(frame(ws::Opcode::Binary, std::string(40, 'x'), true, false));  // 40 + ...
  append(frame(ws::Opcode::Ping, "p", true));                          // a control frame between fragments
  append(frame(ws::Opcode::Continuation, std::string(60, 'y'), true));   // ... 60 = 100: bucket 1
  append(frame(ws::Opcode::Binary, std::string(300, 'z'), true));        // 300: bucket 2
  append(close_frame(4001, true));
  feed_bytewise(m, c2b, client, wire);

  CHECK(m.messages[0].get() == 3);
  CHECK(m.messages[1].get() == 0);
  CHECK(m.bytes[0].get() == wire.size());
  CHECK(m.message_size[0].buckets[0].get() == 1);
  CHECK(m.message_size[0].buckets[1].get() == 1);
  CHECK(m.message_size[0].buckets[2].get() == 1);
  CHECK(m.message_size[0].sum.get() == 5 + 100 + 300);
  CHECK(client.saw_close());
  CHECK(client.close_code() == 4001);
  CHECK(m.closes[static_cast<size_t>(Side::Client)][close_code_slot(4001)].get() == 1);

  // A backend's Close without a code counts as 1005; ringway's own Close 1012 is a failover.
  ws::FrameTracker b2c(ws::Direction::ServerToClient);
  FlowObserver backend(Dir::BackendToClient);
  feed_bytewise(m, b2c, backend, frame(ws::Opcode::Close, "", false));
  CHECK(backend.close_code() == 1005);
  CHECK(m.closes[static_cast<size_t>(Side::Backend)][close_code_slot(1005)].get() == 1);
  backend.ringway_close(1012);
  CHECK(backend.ringway_code() == 1012);
  CHECK(m.failovers.get() == 0);  // queued, not written yet
  backend.ringway_close_sent(m);
  CHECK(m.failovers.get() == 1);
  CHECK(m.closes[static_cast<size_t>(Side::Ringway)][close_code_slot(1012)].get() == 1);
}

TEST_CASE("per-worker counters are summed at scrape time") {
  WorkerMetrics a;
  WorkerMetrics b;
  a.messages[0].add(3);
  b.messages[0].add(4);
  b.bytes[1].add(1000);
  a.message_size[1].observe(2, 500);
  b.message_size[1].observe(2, 600);
  b.message_size[1].observe(10, 1u << 30);
  a.errors[static_cast<size_t>(ErrorKind::Protocol)].add(1);
  b.errors[static_cast<size_t>(ErrorKind::Protocol)].add(2);
  a.closed[static_cast<size_t>(CloseReason::ClientClosed)].add(5);
  b.go_away[1].add(1);
  a.failovers.add(2);

  Snapshot s;
  s.totals.add(a);
  s.totals.add(b);
  CHECK(s.totals.messages[0] == 7);
  CHECK(s.totals.bytes[1] == 1000);
  CHECK(s.totals.message_size[1][2] == 2);
  CHECK(s.totals.message_size_sum[1] == 500 + 600 + (1u << 30));
  CHECK(s.totals.errors[static_cast<size_t>(ErrorKind::Protocol)] == 3);

  const std::string text = render(s);
  CHECK(value_of(text, "ringway_messages_total{direction=\"client_to_backend\"}") == "7");
  CHECK(value_of(text, "ringway_bytes_total{direction=\"backend_to_client\"}") == "1000");
  CHECK(value_of(text, "ringway_message_size_bytes_bucket{direction=\"backend_to_client\",le=\"1024\"}") == "2");
  CHECK(value_of(text, "ringway_message_size_bytes_bucket{direction=\"backend_to_client\",le=\"+Inf\"}") == "3");
  CHECK(value_of(text, "ringway_message_size_bytes_count{direction=\"backend_to_client\"}") == "3");
  CHECK(value_of(text, "ringway_errors_total{kind=\"protocol\"}") == "3");
  CHECK(value_of(text, "ringway_connections_closed_total{reason=\"client_closed\"}") == "5");
  CHECK(value_of(text, "ringway_go_away_total{cause=\"shutdown\"}") == "1");
  CHECK(value_of(text, "ringway_failovers_total") == "2");
}

TEST_CASE("the exposition has every contract family, each once and contiguous, every error kind included") {
  Snapshot s;
  s.version = "9.9.9";
  s.generation = 4;
  s.reloads_ok = 3;
  s.reloads_failed = 1;
  s.listeners.push_back({"public", 2, 10});
  Snapshot::Pool pool;
  pool.name = "chat";
  pool.affinity_cookie = true;
  pool.affinity.results = {5, 2, 1, 3};  // hit, miss, invalid, renewed
  pool.handshake.buckets[0] = 1;
  pool.handshake.buckets[kHandshakeBoundsNs.size()] = 1;
  pool.handshake.sum_ns = 20'000'050'000;
  s.pools.push_back(pool);
  Snapshot::Backend b;
  b.pool = "chat";
  b.name = "chat-1";
  b.active = 2;
  b.up = true;
  b.connect_failures = 6;
  b.upgrades = {8, 1, 2};
  s.backends.push_back(b);
  const std::string text = render(s);

  const std::map<std::string, std::string> contract{
      {"ringway_connections_active", "gauge"},        {"ringway_connections_total", "counter"},
      {"ringway_backend_connections_active", "gauge"}, {"ringway_backend_up", "gauge"},
      {"ringway_upgrades_total", "counter"},           {"ringway_handshake_duration_seconds", "histogram"},
      {"ringway_messages_total", "counter"},           {"ringway_bytes_total", "counter"},
      {"ringway_errors_total", "counter"},             {"ringway_backend_connect_failures_total", "counter"},
      {"ringway_config_reloads_total", "counter"},     {"ringway_config_generation", "gauge"}};
  std::map<std::string, std::string> types;
  std::vector<std::string> order;  // family of each sample line, in order
  for (const std::string& line : lines_of(text)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      CHECK_MESSAGE(types.count(name) == 0, name, " has two TYPE lines");
      types[name] = rest.substr(rest.find(' ') + 1);
    } else if (line.rfind('#', 0) != 0) {
      std::string name = line.substr(0, line.find_first_of("{ "));
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string sfx(suffix);
        const std::string base = name.size() > sfx.size() ? name.substr(0, name.size() - sfx.size()) : "";
        if (name.ends_with(sfx) && types.count(base) != 0 && types[base] == "histogram") name = base;
      }
      CHECK_MESSAGE(types.count(name) == 1, "sample before its TYPE: ", line);
      if (order.empty() || order.back() != name) {
        CHECK_MESSAGE(std::find(order.begin(), order.end(), name) == order.end(), name, " is not contiguous");
        order.push_back(name);
      }
    }
  }
  for (const auto& [name, type] : contract) CHECK_MESSAGE(types[name] == type, name);

  CHECK(value_of(text, "ringway_config_generation") == "4");
  CHECK(value_of(text, "ringway_config_reloads_total{result=\"success\"}") == "3");
  CHECK(value_of(text, "ringway_config_reloads_total{result=\"failure\"}") == "1");
  CHECK(value_of(text, "ringway_connections_active{listener=\"public\"}") == "2");
  CHECK(value_of(text, "ringway_connections_total{listener=\"public\"}") == "10");
  CHECK(value_of(text, "ringway_backend_up{pool=\"chat\",backend=\"chat-1\"}") == "1");
  CHECK(value_of(text, "ringway_backend_connections_active{pool=\"chat\",backend=\"chat-1\"}") == "2");
  CHECK(value_of(text, "ringway_backend_connect_failures_total{pool=\"chat\",backend=\"chat-1\"}") == "6");
  CHECK(value_of(text, "ringway_upgrades_total{pool=\"chat\",backend=\"chat-1\",result=\"ok\"}") == "8");
  CHECK(value_of(text, "ringway_upgrades_total{pool=\"chat\",backend=\"chat-1\",result=\"rejected\"}") == "1");
  CHECK(value_of(text, "ringway_upgrades_total{pool=\"chat\",backend=\"chat-1\",result=\"error\"}") == "2");
  CHECK(value_of(text, "ringway_handshake_duration_seconds_bucket{pool=\"chat\",le=\"0.0001\"}") == "1");
  CHECK(value_of(text, "ringway_handshake_duration_seconds_bucket{pool=\"chat\",le=\"10\"}") == "1");
  CHECK(value_of(text, "ringway_handshake_duration_seconds_bucket{pool=\"chat\",le=\"+Inf\"}") == "2");
  CHECK(value_of(text, "ringway_handshake_duration_seconds_count{pool=\"chat\"}") == "2");
  CHECK(value_of(text, "ringway_handshake_duration_seconds_sum{pool=\"chat\"}") == "20.00005");
  for (const char* kind : kErrorKindNames) {
    CHECK(value_of(text, std::string("ringway_errors_total{kind=\"") + kind + "\"}") == "0");
  }
  CHECK(types["ringway_affinity_total"] == "counter");
  CHECK(value_of(text, "ringway_affinity_total{pool=\"chat\",result=\"hit\"}") == "5");
  CHECK(value_of(text, "ringway_affinity_total{pool=\"chat\",result=\"miss\"}") == "2");
  CHECK(value_of(text, "ringway_affinity_total{pool=\"chat\",result=\"invalid\"}") == "1");
  CHECK(value_of(text, "ringway_affinity_total{pool=\"chat\",result=\"renewed\"}") == "3");
}

TEST_CASE("access log: who closed first, the close code and ringway's reason") {
  access::ConnectionRecord r;
  r.status = 101;
  r.reason = CloseReason::ClientClosed;
  r.client_sent_close = true;
  r.client_close_code = 1000;
  r.client_closed_first = true;
  r.backend_sent_close = true;
  r.backend_close_code = 1000;
  CHECK(std::string(access::closed_by(r)) == "client");
  CHECK(access::close_code(r) == 1000);
  CHECK(std::string(access::ringway_reason(r)) == "");

  access::ConnectionRecord failover;
  failover.status = 101;
  failover.reason = CloseReason::BackendVanished;
  failover.ringway_code_to_client = 1012;
  CHECK(std::string(access::closed_by(failover)) == "ringway");
  CHECK(access::close_code(failover) == 1012);
  CHECK(std::string(access::ringway_reason(failover)) == "failover");

  access::ConnectionRecord drained;
  drained.status = 101;
  drained.reason = CloseReason::Shutdown;
  drained.marks.go_away = GoAway::Drain;
  drained.ringway_code_to_client = 1001;
  CHECK(std::string(access::ringway_reason(drained)) == "drain");
  drained.marks.go_away = GoAway::Shutdown;
  CHECK(std::string(access::ringway_reason(drained)) == "shutdown");

  access::ConnectionRecord refused;
  refused.status = 403;
  refused.reason = CloseReason::Rejected;
  CHECK(std::string(access::closed_by(refused)) == "backend");
  CHECK(access::close_code(refused) == -1);

  access::ConnectionRecord timeout;
  timeout.status = 408;
  timeout.reason = CloseReason::HandshakeTimeout;
  CHECK(std::string(access::closed_by(timeout)) == "ringway");
  CHECK(std::string(access::ringway_reason(timeout)) == "timeout");
}

TEST_CASE("a finished connection counts its error kind, its reason and a refused upgrade") {
  WorkerMetrics m;
  health::BackendState backend;
  access::ConnectionRecord r;
  r.status = 403;
  r.reason = CloseReason::Rejected;
  r.backend = "b1";
  r.backend_state = &backend;
  r.path = "/x";
  access::connection_ended(m, r);
  CHECK(backend.stats.upgrades[static_cast<size_t>(UpgradeResult::Rejected)].load() == 1);
  CHECK(m.closed[static_cast<size_t>(CloseReason::Rejected)].get() == 1);

  access::ConnectionRecord bad;
  bad.status = 400;
  bad.reason = CloseReason::BadRequest;
  access::connection_ended(m, bad);
  CHECK(m.errors[static_cast<size_t>(ErrorKind::BadRequest)].get() == 1);

  SessionMarks marks;
  marks.accepted_ns = 1'000'000;
  note_upgrade(marks, backend, 1'000'000 + 3'000'000);  // 3 ms
  CHECK(backend.stats.upgrades[static_cast<size_t>(UpgradeResult::Ok)].load() == 1);
  CHECK(backend.stats.handshake_buckets[handshake_bucket(3'000'000)].load() == 1);
  CHECK(backend.stats.handshake_ns.load() == 3'000'000);

  note_go_away(m, marks, false);
  note_go_away(m, marks, true);  // the first cause counts, once
  CHECK(marks.go_away == GoAway::Drain);
  CHECK(m.go_away[0].get() == 1);
  CHECK(m.go_away[1].get() == 0);
}
