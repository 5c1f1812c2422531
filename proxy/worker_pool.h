// The workers (`workers: auto | N`): N threads, each running one Worker on its own uv_loop_t with its
// own SO_REUSEPORT socket per listener, so the kernel spreads connections over them and a connection
// never crosses threads. The control loop (the main thread: signals, admin, health checks, DNS
// discovery, reloads) runs no worker: every worker is alike, and the control loop never waits
// behind a busy data path.
//
// The control thread talks to a worker only through its command queue: a mutex-protected list of
// std::function, and a uv_async_t that wakes the worker's loop (the control path, not the data path).
// What the workers share is atomics or behind a mutex touched at accept and close: backend state
// (health::BackendState), the process-wide connection counts (ProcessConnections), the listener
// counter blocks (ListenerCounters) and each Worker's metrics (relaxed atomics, summed at scrape).
//
// Listening sockets are opened here, on the control thread, for every worker before any worker is
// told: a reload whose new listener cannot bind fails before anything changed, and every worker
// stays on the old configuration. Reloads and drains are synchronous (the control thread waits
// until every worker has applied them), so that when a reload is logged, every worker runs it.
// Shutdown is not: each worker drains on its own and reports when it is done.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/runtime.h"
#include "proxy/shared_counts.h"
#include "proxy/worker.h"

namespace ringway {

class WorkerPool {
 public:
  // `count` workers (1 to conf::kMaxWorkers); `control` is the main loop, where `done` callbacks run.
  WorkerPool(uv_loop_t* control, size_t count);
  ~WorkerPool();  // after join()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Opens every listener of `runtime` for every worker and starts the threads. On failure (a bind),
  // false with `error`; the threads may have started: stop() and join() as after a shutdown.
  bool start(std::shared_ptr<const Runtime> runtime, std::string& error);
  // Reload (proxy/worker.h, Worker::apply_runtime): binds the new listeners for every worker first;
  // on failure nothing changed anywhere. Returns once every worker runs `next`.
  bool apply_runtime(std::shared_ptr<const Runtime> next, std::string& error);
  // Backend drain and undrain on every worker (returns once every worker has started it).
  void drain_backend(const std::shared_ptr<health::BackendState>& state, const std::string& label, uint64_t window_ms);
  void undrain_backend(const std::shared_ptr<health::BackendState>& state);
  // Graceful shutdown on every worker; `done` runs on the control loop once all of them are done
  // (each has its own deadline: shutdown.delay + shutdown.drain_timeout).
  void begin_shutdown(uint64_t delay_ms, uint64_t drain_timeout_ms, std::function<void()> done);
  // Every worker ends its sessions now and its thread ends once they are gone; the control loop's
  // handle closes. Idempotent.
  void stop();
  // Waits for the threads (after the control loop ended).
  void join();

  // Waits until every worker has handled the events that were ready when it was called: a scrape
  // after sync() counts every connection whose end its client has already seen (the control
  // thread waits a loop iteration; the workers do not stop).
  void sync();

  size_t size() const { return threads_.size(); }
  // The configuration every worker runs (control thread only).
  std::shared_ptr<const Runtime> runtime() const { return runtime_; }
  bool accepting() const { return started_ && !shutting_down_; }
  // Read-only access to a worker's counters (relaxed atomics) from the control thread; its other
  // members belong to its own thread.
  const Worker& worker(size_t index) const;
  // A listener's counters (summed over the workers), for a listener of runtime(); null if unknown.
  const ListenerCounters* counters(const ListenerRuntime& listener) const;

 private:
  struct Thread;
  using Command = std::function<void(Worker&)>;

  // Runs `command` on every worker that still takes commands and waits until all of them have (with
  // `after_io`: until each has also finished the I/O callbacks of that loop iteration).
  void run_everywhere(const std::function<Command(size_t)>& make, bool after_io = false);
  // Opens one socket per worker for every listener of `runtime` whose bind is not open yet.
  bool open_new_binds(const Runtime& runtime, std::vector<std::vector<ListenerSocket>>& per_worker,
                      std::map<std::string, std::shared_ptr<ListenerCounters>>& counters, std::string& error);
  void on_worker_done();   // any worker's thread
  void on_control_wake();  // the control loop

  ProcessConnections connections_;  // before threads_: the workers refer to it
  std::vector<std::unique_ptr<Thread>> threads_;
  std::shared_ptr<const Runtime> runtime_;
  // The listener counters of the running configuration, by bind key (net::address_text).
  std::map<std::string, std::shared_ptr<ListenerCounters>> counters_;
  bool started_ = false;
  bool shutting_down_ = false;

  // Shutdown completion: workers count themselves done and wake the control loop.
  uv_async_t control_wake_{};
  std::mutex control_mutex_;
  bool control_closed_ = false;  // under control_mutex_: no more wake-ups
  std::atomic<size_t> done_{0};
  std::function<void()> shutdown_done_;
};

}  // namespace ringway
