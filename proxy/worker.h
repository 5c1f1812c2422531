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
#include <vector>

#include "proxy/runtime.h"
#include "proxy/session_list.h"

namespace ringway {

class Session;
class Worker;

struct ListenerState {
  Worker* worker = nullptr;
  std::string name;
  const ListenerRuntime* runtime = nullptr;  // inside the worker's current Runtime
  uv_tcp_t handle{};
  bool closing = false;
  uint64_t active = 0;  // sessions accepted here and not yet finished
  uint64_t total = 0;
};

class Worker {
 public:
  explicit Worker(uv_loop_t* loop);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds every listener of `runtime`; on failure returns false with the reason in `error`.
  bool start(std::shared_ptr<const Runtime> runtime, std::string& error);

  // Graceful shutdown: stop accepting after `delay`, then send Close 1001 to every WebSocket, paced
  // evenly over `drain_timeout`, and call `done` when no session is left or the time is up.
  void begin_shutdown(uint64_t delay_ms, uint64_t drain_timeout_ms, std::function<void()> done);
  // Second signal: end every session now.
  void abort_all();
  // Closes the worker's own handles once everything else is gone (before the loop closes).
  void close_handles();

  uv_loop_t* loop() const { return loop_; }
  std::shared_ptr<const Runtime> runtime() const { return runtime_; }
  const std::vector<std::unique_ptr<ListenerState>>& listeners() const { return listeners_; }
  bool accepting() const { return accepting_; }
  uint64_t session_count() const { return sessions_; }

  // One read buffer per loop: every read lands here and is written on at once (DESIGN.md).
  std::span<uint8_t> read_slab() { return read_slab_; }

  // Session bookkeeping.
  void session_started(Session& session);
  void session_finished(Session& session);
  // A session that was told to go away moves to the "told" list so pacing never revisits it.
  void session_told(Session& session);

 private:
  static void on_connection(uv_stream_t* server, int status);
  void close_listeners();
  void pace_shutdown();
  void maybe_done();

  uv_loop_t* loop_;
  std::shared_ptr<const Runtime> runtime_;
  std::vector<std::unique_ptr<ListenerState>> listeners_;
  IntrusiveList<Session> live_;  // sessions not yet told to go away
  IntrusiveList<Session> told_;  // sessions sent a Close 1001 (or closing)
  uint64_t sessions_ = 0;
  uint64_t untold_ = 0;
  bool accepting_ = false;

  // Shutdown pacing.
  bool shutting_down_ = false;
  uint64_t drain_start_ms_ = 0;
  uint64_t drain_end_ms_ = 0;
  uint64_t last_pace_ms_ = 0;
  double pace_credit_ = 0;
  uv_timer_t shutdown_timer_{};
  std::function<void()> shutdown_done_;

  alignas(64) std::array<uint8_t, 64 * 1024> read_slab_{};
};

}  // namespace ringway
