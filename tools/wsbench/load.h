// The load generator proper. `run_load` splits the N connections over --threads loaders, each with its
// own libuv loop on its own thread (connection i belongs to thread i % threads), and coordinates the
// phases of a run from the calling thread: setup (every loader opens its share), warm-up, measured
// window, optional verification, teardown. The coordinator alone samples the processes given by
// --pid and this process's CPU time, at the start and the end of the window, so the figures cover
// exactly one window whatever the number of threads.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "tools/wsbench/stats.h"

namespace wsbench {

enum class Mode : uint8_t { PingPong, Stream, Hold, Connect };

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
  bool verify_end = false;  // hold: after the window, one echo on every live connection
  int threads = 1;          // loaders, one libuv loop and one thread each
  int sources = 0;          // > 0: connection i binds 127.0.0.(1 + i % sources) before connecting
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
  int threads = 1;
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

  // Adds another loader's counts, histograms, errors, closes and timeline to this one.
  void merge(const Report& other);
};

// Error kinds that mean an echo did not come back as sent: wsbench exits 3 when any is counted.
//   echo_corrupted   wrong length, or bytes changed (the tag's check word or the body differ)
//   echo_reordered   this connection's message, but not the next one expected
//   echo_misrouted   a well-formed message of another connection
//   unexpected_message  an echo with nothing in flight
bool is_verification_error(const std::string& kind);

// Runs the whole load; returns 0, or 1 when the setup failed (the reason is in FATAL).
int run_load(const Options& options, Report& report, std::string& fatal);

// -- internals shared by load.cpp's loaders and coordinator ----------------------------------------

// What the loaders tell the coordinator.
struct Sync {
  std::mutex mutex;
  std::condition_variable changed;
  int ready = 0;     // loaders whose share is open (or that have nothing to set up)
  int finished = 0;  // loaders whose loop has ended
  std::string fatal;
};

// One loader's part of the load.
struct Share {
  int thread = 0;
  int threads = 1;
  int connections = 1;  // connections of this loader (connect mode: at once)
  double rate = 0;
  int setup_concurrency = 256;
};

class Conn;

class Loader {
 public:
  enum class Command : uint8_t { StartTraffic, BeginWindow, EndWindow, Abort };

  Loader(const Options& options, Share share, const sockaddr_storage& target, Sync& sync);
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  Loader(Loader&&) = delete;
  Loader& operator=(Loader&&) = delete;
  ~Loader() = default;

  // The thread's body: runs the loop until the loader is done.
  void thread_main();
  // From any thread: queues a command for the loop (ignored once the loader is done).
  void command(Command c);

  [[nodiscard]] const Report& report() const { return report_; }
  [[nodiscard]] int opened() const { return opened_; }

 private:
  friend class Conn;
  enum class Phase : uint8_t { Setup, Ready, Warmup, Window, Verify, Teardown, Done };

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
  std::vector<std::string> headers_for(int index) const;
  // The source address for connection INDEX (with --sources), or nullptr.
  const sockaddr* source_for(int index);

  void start();
  void launch(int index, bool reconnect);
  void launch_more();
  void setup_done();
  void start_traffic();
  void begin_window();
  void end_window();
  void begin_teardown();
  void maybe_done();
  void fail_setup(const std::string& why, bool report);
  void bin_add(bool close);
  void run_commands();

  static void on_phase_timer(uv_timer_t* t);
  static void on_tick(uv_timer_t* t);
  static void on_command(uv_async_t* a);

  uv_loop_t loop_{};
  uv_loop_t* loop_ptr_ = &loop_;
  const Options& options_;
  Share share_;
  sockaddr_storage target_{};
  sockaddr_in source_{};
  Sync& sync_;
  Report report_;
  Phase phase_ = Phase::Setup;
  uv_timer_t phase_timer_{};
  uv_timer_t tick_{};
  uv_async_t async_{};
  std::mutex commands_mutex_;
  std::vector<Command> commands_;  // guarded by commands_mutex_
  bool async_open_ = false;        // guarded by commands_mutex_
  std::unordered_set<Conn*> live_;
  int launched_ = 0;     // setup: connections started
  int opened_ = 0;       // setup: connections upgraded
  int connecting_ = 0;   // handshakes in progress
  uint64_t connect_launched_ = 0;  // connect mode, for the rate
  uint64_t probes_answered_ = 0;
  uint64_t run_start_ns_ = 0;
  uint64_t window_start_ns_ = 0;
  uint64_t last_retry_ns_ = 0;
  std::vector<int> retry_;  // indexes to reconnect on the next tick (after a failed reconnect)
  std::vector<uint8_t> payload_template_;
  std::array<char, 64UL * 1024> slab_{};
};

}  // namespace wsbench
