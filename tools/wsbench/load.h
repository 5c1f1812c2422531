// The load generator proper: one libuv loop, N WebSocket client connections, and the phases of a run
// (setup, warm-up, measured window, optional verification, teardown). Single threaded on purpose:
// benchmarks pin it to one core next to the backend.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "tools/wsbench/stats.h"

namespace wsbench {

enum class Mode : uint8_t { PingPong, Stream, Idle, Connect };

struct Options {
  std::string url;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string path = "/";
  std::string host_header;  // "host:port" as written in the URL
  Mode mode = Mode::PingPong;
  int connections = 1;
  std::size_t size = 64;
  int inflight = 1;
  double duration = 5.0;
  double warmup = -1.0;  // < 0: 1 s for pingpong and stream, 0 otherwise
  std::vector<std::string> headers;  // "Name: value" templates; {i} is the connection's index
  double rate = 0.0;                 // connects per second (connect mode; setup pacing otherwise)
  bool json = false;
  std::vector<int> pids;
  int setup_concurrency = 256;  // handshakes in progress at once while opening the N connections
  double setup_timeout = 30.0;
  bool reconnect = false;  // a connection the server closes is opened again at once (same index)
  int interval_ms = 0;     // > 0: closes and reconnects per interval over the window (timeline)
  bool verify_end = false;  // idle: after the window, one echo on every live connection
};

struct PidReport {
  int pid = 0;
  ProcSample before;  // before the first connection
  ProcSample start;   // start of the measured window
  ProcSample end;     // end of the measured window
};

struct TimelineBin {
  uint64_t closes = 0;      // closes started by the server (Close frame or a cut connection)
  uint64_t reconnects = 0;  // successful re-opens
};

struct Report {
  double window_s = 0;
  int connected_at_start = 0;
  int live_at_end = 0;
  uint64_t messages = 0;  // echoes received and verified in the window
  uint64_t bytes = 0;     // payload bytes of those echoes
  uint64_t upgrades = 0;  // handshakes completed in the window
  uint64_t cycles = 0;    // connect mode: upgrade (+ 1 message) + close completed
  uint64_t reconnects = 0;
  uint64_t probed = 0;  // verify_end
  uint64_t probe_ok = 0;
  Histogram latency;        // message round trip (pingpong, stream) or whole cycle (connect)
  Histogram handshake;      // TCP connect + upgrade, in the window (connect mode) or during setup
  std::map<std::string, uint64_t> errors;
  std::map<uint16_t, uint64_t> closes;  // server-initiated, by code; 1006 = cut without a Close
  std::vector<TimelineBin> timeline;
  uint64_t client_cpu_us = 0;
  std::vector<PidReport> pids;
};

class Conn;

class Loader {
 public:
  Loader(uv_loop_t* loop, Options options);
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  Loader(Loader&&) = delete;
  Loader& operator=(Loader&&) = delete;
  ~Loader() = default;

  // Runs the whole load; returns 0, or 1 when the setup failed (the reason is in fatal_error()).
  int run();
  [[nodiscard]] const Report& report() const { return report_; }
  [[nodiscard]] const std::string& fatal_error() const { return fatal_; }
  [[nodiscard]] const Options& options() const { return options_; }

 private:
  friend class Conn;
  enum class Phase : uint8_t { Setup, Warmup, Window, Verify, Teardown, Done };

  // Called by connections.
  void on_open(Conn* conn, uint64_t handshake_ns, bool reconnected);
  void on_handshake_failed(Conn* conn, const std::string& why);
  void on_server_close(uint16_t code);
  void on_echo(uint64_t rtt_ns, std::size_t bytes);
  void on_cycle(uint64_t cycle_ns);
  void on_probe(bool ok);
  void on_gone(Conn* conn, bool by_server);
  void error(const std::string& kind);
  [[nodiscard]] bool counting() const { return phase_ == Phase::Window; }
  [[nodiscard]] bool traffic() const { return phase_ == Phase::Warmup || phase_ == Phase::Window; }

  uv_buf_t read_buffer() { return uv_buf_init(slab_.data(), static_cast<unsigned>(slab_.size())); }
  std::string header_line_for(const std::string& tmpl, int index) const;
  std::vector<std::string> headers_for(int index) const;

  void launch(int index, bool reconnect);
  void launch_more();
  void setup_done();
  void begin_window();
  void end_window();
  void begin_teardown();
  void maybe_done();
  void fail_setup(const std::string& why);
  void sample_pids(int which);
  void bin_add(bool close);

  static void on_phase_timer(uv_timer_t* t);
  static void on_tick(uv_timer_t* t);

  uv_loop_t* loop_;
  Options options_;
  Report report_;
  std::string fatal_;
  Phase phase_ = Phase::Setup;
  uv_timer_t phase_timer_{};
  uv_timer_t tick_{};
  std::unordered_set<Conn*> live_;
  int launched_ = 0;     // setup: connections started
  int opened_ = 0;       // setup: connections upgraded
  int connecting_ = 0;   // handshakes in progress
  uint64_t connect_launched_ = 0;  // connect mode, for the rate
  uint64_t probes_answered_ = 0;
  uint64_t run_start_ns_ = 0;
  uint64_t window_start_ns_ = 0;
  uint64_t window_end_ns_ = 0;
  uint64_t client_cpu_start_ = 0;
  std::vector<int> retry_;  // indexes to reconnect on the next tick (after a failed reconnect)
  std::vector<uint8_t> payload_template_;
  std::array<char, 64UL * 1024> slab_{};
};

}  // namespace wsbench
