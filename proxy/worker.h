// A worker: one libuv loop with its listening sockets and every session accepted on them. A session
// and both of its sockets stay on the worker that accepted it. There are `workers` of them, each on
// its own thread with its own SO_REUSEPORT socket per listener (proxy/worker_pool.h); everything here
// runs on the worker's thread, except what is marked as read by the control thread.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/heap_trim.h"
#include "proxy/listener_state.h"
#include "proxy/pacer.h"
#include "proxy/runtime.h"
#include "proxy/metrics.h"
#include "proxy/session_list.h"
#include "proxy/shared_counts.h"
#include "proxy/timer_wheel.h"

namespace ringway {

class Session;
class Worker;

class Worker {
 public:
  // `index`: 0..workers-1, in logs and metrics. `connections`: the process-wide counts (limits).
  Worker(uv_loop_t* loop, size_t index, ProcessConnections& connections);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts accepting on `sockets`, one per listener of `runtime` (by bind key); on failure returns
  // false with the reason in `error`. Every socket is taken over (closed on failure).
  bool start(std::shared_ptr<const Runtime> runtime, std::vector<ListenerSocket> sockets, std::string& error);

  // Reload: new sessions use `next`; established ones keep the snapshot they started with. A
  // listener whose bind exists in both configurations keeps its socket (a reload never refuses a
  // connection); new binds come as `sockets`, already bound and listening (the control thread
  // opened them for every worker before telling any, so a bind failure changes nothing anywhere);
  // listeners that are gone stop accepting while their established connections stay. false (with
  // `error`) only if a handed socket cannot join the loop: nothing changed then.
  bool apply_runtime(std::shared_ptr<const Runtime> next, std::vector<ListenerSocket> sockets, std::string& error);

  // Graceful shutdown: stop accepting after `delay`, then send Close 1001 to every WebSocket, paced
  // evenly over `drain_timeout`, and call `done` when no session is left or the time is up. mode: tcp
  // sessions are not paced: they get a FIN at the deadline, then Session::kCloseGraceMs to close.
  void begin_shutdown(uint64_t delay_ms, uint64_t drain_timeout_ms, std::function<void()> done);
  // Second signal: end every session now.
  void abort_all();
  // Closes the worker's own handles once everything else is gone (before the loop closes).
  void close_handles();

  // Backend drain: its sessions get Close 1001 paced over `window_ms` (mode: tcp sessions: a FIN at
  // the end of the window); undrain stops that. Returns
  // how many sessions of this worker are drained (the pool logs the sum); none when it already was
  // or shutdown tells everyone anyway.
  std::optional<size_t> drain_backend(const health::BackendState* state, uint64_t window_ms);
  void undrain_backend(const health::BackendState* state);

  uv_loop_t* loop() const { return loop_; }
  size_t index() const { return index_; }
  std::shared_ptr<const Runtime> runtime() const { return runtime_; }
  const std::vector<std::unique_ptr<ListenerState>>& listeners() const { return listeners_; }
  bool accepting() const { return accepting_; }
  // Live sessions of the whole process (every worker): limits.max_connections is process-wide.
  uint64_t session_count() const { return connections_.live(); }
  // This worker's live and accepted sessions (read by the control thread for /metrics, /status).
  uint64_t sessions_active() const { return sessions_.get(); }
  uint64_t sessions_total() const { return accepted_.get(); }

  // One read buffer per loop: every read lands here and is written on at once (DESIGN.md).
  std::span<uint8_t> read_slab() { return read_slab_; }
  // Reads by this worker's sessions, for wakeup coalescing (proxy/worker_loop.h).
  void count_read() { ++reads_; }
  uint64_t reads() const { return reads_; }
  // The current configuration's `wakeup_coalescing`, in microseconds (0: off).
  uint32_t wakeup_coalescing_us() const;
  // A second one for TLS: ciphertext lands in read_slab, its plaintext is decrypted into this.
  std::span<uint8_t> plaintext_slab() { return plaintext_slab_; }
  // This worker's counters: only its thread writes them; /metrics sums them (proxy/metrics.h).
  metrics::WorkerMetrics& metrics() { return metrics_; }
  const metrics::WorkerMetrics& metrics() const { return metrics_; }
  // Every session timer of this loop: one wheel and one uv_timer_t (proxy/timer_wheel.h).
  LoopTimers& timers() { return timers_; }

  // limits.max_connections_per_ip: counts live sessions per client address, process-wide (at accept
  // and close, never on the data path). admit_ip returns false when `ip` already has `limit` sessions.
  bool admit_ip(const std::string& ip, uint64_t limit);
  void release_ip(const std::string& ip);

  void session_started(Session& session);
  void session_finished(Session& session);
  // Session::close: its sockets are closed just before the loop next polls, after this iteration's
  // log lines are written (log::flush_batch): the peer never sees the end before its access-log
  // line, and the lines of every connection that ended in one iteration go out in one write.
  void close_before_poll(Session& session) { closing_.push_back(&session); }

 private:
  struct DrainJob {
    const health::BackendState* state;
    std::unique_ptr<Pacer> pacer;
  };

  static void on_connection(uv_stream_t* server, int status);
  // Creates, binds and listens; null with `error` on failure (the handle is then closing).
  std::unique_ptr<ListenerState> open_listener(const ListenerRuntime& lr, ListenerSocket& socket, std::string& error);
  void close_listener(ListenerState& listener);
  void close_listeners();
  void reap_retired();
  void start_shutdown_drain();
  void on_shutdown_tick();
  void reap_finished_drains();
  void maybe_done();

  uv_loop_t* loop_;
  size_t index_;
  ProcessConnections& connections_;
  std::shared_ptr<const Runtime> runtime_;
  uint64_t reads_ = 0;  // this thread only
  std::vector<std::unique_ptr<ListenerState>> listeners_;
  // Listeners removed by a reload: closed, kept until their sessions are gone (sessions refer to them).
  std::vector<std::unique_ptr<ListenerState>> retired_;
  IntrusiveList<Session> live_;  // sessions not told to go away and not waiting in a pacer
  IntrusiveList<Session> told_;  // sessions sent Close 1001 (or about to)
  metrics::Counter sessions_;  // live on this worker
  metrics::Counter accepted_;
  bool accepting_ = false;
  std::vector<DrainJob> drains_;
  metrics::WorkerMetrics metrics_;

  // Shutdown.
  bool shutting_down_ = false;
  uint64_t drain_timeout_ms_ = 0;
  uint64_t drain_end_ms_ = 0;
  bool deadline_passed_ = false;  // shutdown: the drain timeout came (tcp sessions then have the close grace)
  uv_timer_t delay_timer_{};
  static void fire_session_timer(TimerWheel::Entry& entry);  // every entry is a Session
  LoopTimers timers_{loop_, fire_session_timer};  // after loop_: initialised from it
  HeapTrimmer heap_trimmer_{loop_};
  uv_prepare_t before_poll_{};     // runs before_poll() once per loop iteration
  std::vector<Session*> closing_;  // closed this iteration; their sockets close in before_poll()
  static void before_poll(uv_prepare_t* prepare);
  std::unique_ptr<Pacer> shutdown_pacer_;
  std::function<void()> shutdown_done_;

  alignas(64) std::array<uint8_t, 64 * 1024> read_slab_{};
  alignas(64) std::array<uint8_t, 64 * 1024> plaintext_slab_{};
};

}  // namespace ringway
