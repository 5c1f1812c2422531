// A worker: one libuv loop with its listening sockets and every session accepted on them. A session
// and both of its sockets stay on the worker that accepted it. (Today ringway runs one worker; the
// multi-core issue adds more, each with its own SO_REUSEPORT listeners.)
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/pacer.h"
#include "proxy/runtime.h"
#include "proxy/metrics.h"
#include "proxy/session_list.h"

namespace ringway {

class Session;
class Worker;

struct ListenerState {
  Worker* worker = nullptr;
  std::string name;
  const ListenerRuntime* runtime = nullptr;  // inside the worker's current Runtime
  uv_tcp_t handle{};
  std::string bind_key;  // the resolved bind address: a reload keeps the socket when it matches
  bool closing = false;
  bool closed = false;   // the close callback has run
  metrics::Counter active;  // sessions accepted here and not yet finished (read by /metrics)
  metrics::Counter total;
};

class Worker {
 public:
  explicit Worker(uv_loop_t* loop);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds every listener of `runtime`; on failure returns false with the reason in `error`.
  bool start(std::shared_ptr<const Runtime> runtime, std::string& error);

  // Reload: new sessions use `next`; established ones keep the snapshot they started with. A
  // listener whose bind exists in both configurations keeps its socket (a reload never refuses a
  // connection); new binds are bound first, so a failure (returns false) changes nothing; listeners
  // that are gone stop accepting while their established connections stay.
  bool apply_runtime(std::shared_ptr<const Runtime> next, std::string& error);

  // Graceful shutdown: stop accepting after `delay`, then send Close 1001 to every WebSocket, paced
  // evenly over `drain_timeout`, and call `done` when no session is left or the time is up.
  void begin_shutdown(uint64_t delay_ms, uint64_t drain_timeout_ms, std::function<void()> done);
  // Second signal: end every session now.
  void abort_all();
  // Closes the worker's own handles once everything else is gone (before the loop closes).
  void close_handles();

  // Backend drain: its sessions get Close 1001 paced over `window_ms`; undrain stops that.
  // `label` names the backend in logs ("pool/backend").
  void drain_backend(const health::BackendState* state, const std::string& label, uint64_t window_ms);
  void undrain_backend(const health::BackendState* state);

  uv_loop_t* loop() const { return loop_; }
  std::shared_ptr<const Runtime> runtime() const { return runtime_; }
  const std::vector<std::unique_ptr<ListenerState>>& listeners() const { return listeners_; }
  bool accepting() const { return accepting_; }
  uint64_t session_count() const { return sessions_; }

  // One read buffer per loop: every read lands here and is written on at once (DESIGN.md).
  std::span<uint8_t> read_slab() { return read_slab_; }
  // A second one for TLS: ciphertext lands in read_slab, its plaintext is decrypted into this.
  std::span<uint8_t> plaintext_slab() { return plaintext_slab_; }
  // This worker's counters: only its thread writes them; /metrics sums them (proxy/metrics.h).
  metrics::WorkerMetrics& metrics() { return metrics_; }
  const metrics::WorkerMetrics& metrics() const { return metrics_; }

  // limits.max_connections_per_ip: counts live sessions per client address (at accept and close,
  // never on the data path). admit_ip returns false when `ip` already has `limit` sessions.
  bool admit_ip(const std::string& ip, uint64_t limit);
  void release_ip(const std::string& ip);

  void session_started(Session& session);
  void session_finished(Session& session);

 private:
  struct DrainJob {
    const health::BackendState* state;
    std::unique_ptr<Pacer> pacer;
  };

  static void on_connection(uv_stream_t* server, int status);
  // Creates, binds and listens; null with `error` on failure (the handle is then closing).
  std::unique_ptr<ListenerState> open_listener(const ListenerRuntime& lr, std::string& error);
  void close_listener(ListenerState& listener);
  void close_listeners();
  void reap_retired();
  void start_shutdown_drain();
  void on_shutdown_tick();
  void reap_finished_drains();
  void maybe_done();

  uv_loop_t* loop_;
  std::shared_ptr<const Runtime> runtime_;
  std::vector<std::unique_ptr<ListenerState>> listeners_;
  // Listeners removed by a reload: closed, kept until their sessions are gone (sessions refer to them).
  std::vector<std::unique_ptr<ListenerState>> retired_;
  IntrusiveList<Session> live_;  // sessions not told to go away and not waiting in a pacer
  IntrusiveList<Session> told_;  // sessions sent Close 1001 (or about to)
  uint64_t sessions_ = 0;
  bool accepting_ = false;
  std::vector<DrainJob> drains_;
  std::unordered_map<std::string, uint32_t> per_ip_;
  metrics::WorkerMetrics metrics_;

  // Shutdown.
  bool shutting_down_ = false;
  uint64_t drain_timeout_ms_ = 0;
  uint64_t drain_end_ms_ = 0;
  uv_timer_t delay_timer_{};
  std::unique_ptr<Pacer> shutdown_pacer_;
  std::function<void()> shutdown_done_;

  alignas(64) std::array<uint8_t, 64 * 1024> read_slab_{};
  alignas(64) std::array<uint8_t, 64 * 1024> plaintext_slab_{};
};

}  // namespace ringway
