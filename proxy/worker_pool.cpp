#include "proxy/worker_pool.h"

#include <chrono>
#include <condition_variable>
#include <thread>
#include <utility>

#include "proxy/listen_socket.h"
#include "proxy/log.h"
#include "proxy/net.h"
#include "proxy/worker_loop.h"

namespace ringway {
namespace {

constexpr int kListenBacklog = 4096;
// How long the control thread waits for the workers to run a reload or a drain. Workers never
// block, so this only keeps a bug from hanging the control loop for good.
constexpr auto kCommandWait = std::chrono::seconds(10);
// While a worker exits: how often it looks whether its last session has closed.
constexpr uint64_t kExitPollMs = 5;

// Sockets on their way to one worker: closed here if the command never ran (the worker had
// exited), else the worker took them over.
struct SocketBatch {
  std::vector<ListenerSocket> sockets;
  SocketBatch() = default;
  SocketBatch(const SocketBatch&) = delete;
  SocketBatch& operator=(const SocketBatch&) = delete;
  ~SocketBatch() {
    for (const ListenerSocket& s : sockets) net::close_socket(s.fd);
  }
  std::vector<ListenerSocket> take() { return std::exchange(sockets, {}); }
};

}  // namespace

// One worker's thread, loop and command queue.
struct WorkerPool::Thread {
  uv_loop_t loop{};
  std::unique_ptr<Worker> worker;
  uv_async_t wake{};        // the control thread's commands are waiting
  uv_timer_t exit_timer{};  // exiting: waits for the last session to close
  uv_check_t after_io{};    // runs `at_check` once this loop iteration's I/O callbacks are done
  std::vector<std::function<void()>> at_check;  // this thread only
  std::mutex mutex;
  std::vector<Command> queue;  // under mutex
  bool closed = false;         // under mutex: the exit command is queued, nothing more is taken
  std::thread thread;

  Thread(size_t index, ProcessConnections& connections) {
    uv_loop_init(&loop);
    worker = std::make_unique<Worker>(&loop, index, connections);
    uv_async_init(&loop, &wake, [](uv_async_t* a) { static_cast<Thread*>(a->data)->run_queue(); });
    wake.data = this;
    uv_timer_init(&loop, &exit_timer);
    exit_timer.data = this;
    uv_check_init(&loop, &after_io);
    after_io.data = this;
    // Everything above happens before the thread starts (std::thread's constructor orders it).
    thread = std::thread([this] {
      log::begin_batching();  // written by the worker before each poll (Worker::before_poll)
      run_worker_loop(&loop, *worker);  // uv_run with wakeup coalescing
      log::end_batching();
      if (uv_loop_close(&loop) != 0) log::warn("worker loop closed with handles still open");
    });
  }

  // From any thread. false once the worker is exiting (the command is dropped).
  bool post(Command command) {
    const std::lock_guard lock(mutex);
    if (closed) return false;
    queue.push_back(std::move(command));
    uv_async_send(&wake);  // under the mutex: never after exit() closed `wake`
    return true;
  }

  // The last command: end every session now, then close the worker's handles once the sessions
  // are gone (their list links live in the worker's pacers until their close callbacks), and the
  // loop, having nothing left, ends the thread.
  void exit() {
    const std::lock_guard lock(mutex);
    if (closed) return;
    closed = true;
    queue.push_back([this](Worker& w) {
      w.abort_all();
      uv_timer_start(&exit_timer, [](uv_timer_t* t) { static_cast<Thread*>(t->data)->exit_when_idle(); }, 0,
                     kExitPollMs);
    });
    uv_async_send(&wake);
  }

  void exit_when_idle() {
    if (worker->sessions_active() != 0) return;
    run_at_check();
    worker->close_handles();
    uv_close(reinterpret_cast<uv_handle_t*>(&exit_timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&after_io), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
  }

  // After the I/O callbacks of the current iteration: every event that was ready when the command
  // arrived (a peer's FIN, say) has been handled, and counted, by then.
  void defer_to_check(std::function<void()> f) {
    at_check.push_back(std::move(f));
    uv_check_start(&after_io, [](uv_check_t* c) { static_cast<Thread*>(c->data)->run_at_check(); });
  }

  void run_at_check() {
    uv_check_stop(&after_io);
    auto due = std::exchange(at_check, {});
    for (auto& f : due) f();
  }

  void run_queue() {
    std::vector<Command> batch;
    {
      const std::lock_guard lock(mutex);
      batch.swap(queue);
    }
    for (Command& command : batch) command(*worker);
  }
};

WorkerPool::WorkerPool(uv_loop_t* control, size_t count) {
  uv_async_init(control, &control_wake_, [](uv_async_t* a) { static_cast<WorkerPool*>(a->data)->on_control_wake(); });
  control_wake_.data = this;
  for (size_t i = 0; i < count; ++i) threads_.push_back(std::make_unique<Thread>(i, connections_));
}

// Normally stop() ran and the control loop closed its handle; the threads are told to exit in any
// case, so that a destructor never waits forever.
WorkerPool::~WorkerPool() {
  for (const auto& thread : threads_) thread->exit();
  join();
}

const Worker& WorkerPool::worker(size_t index) const { return *threads_[index]->worker; }

const ListenerCounters* WorkerPool::counters(const ListenerRuntime& listener) const {
  const auto it = counters_.find(net::address_text(listener.bind));
  return it == counters_.end() ? nullptr : it->second.get();
}

void WorkerPool::run_everywhere(const std::function<Command(size_t)>& make, bool after_io) {
  struct Pending {
    std::mutex mutex;
    std::condition_variable cv;
    size_t left = 0;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = threads_.size();
  for (size_t i = 0; i < threads_.size(); ++i) {
    Command command = make(i);
    Thread* thread = threads_[i].get();
    const bool posted = threads_[i]->post([command = std::move(command), pending, thread, after_io](Worker& w) {
      command(w);
      auto answered = [pending] {
        const std::lock_guard lock(pending->mutex);
        if (--pending->left == 0) pending->cv.notify_all();
      };
      if (after_io) {
        thread->defer_to_check(std::move(answered));
      } else {
        answered();
      }
    });
    if (!posted) {
      const std::lock_guard lock(pending->mutex);
      --pending->left;
    }
  }
  std::unique_lock lock(pending->mutex);
  if (!pending->cv.wait_for(lock, kCommandWait, [&] { return pending->left == 0; })) {
    log::error("workers did not answer a command in time", {{"waiting_for", std::to_string(pending->left)}});
  }
}

bool WorkerPool::open_new_binds(const Runtime& runtime, std::vector<std::vector<ListenerSocket>>& per_worker,
                                std::map<std::string, std::shared_ptr<ListenerCounters>>& counters,
                                std::string& error) {
  per_worker.assign(threads_.size(), {});
  const auto close_all = [&] {
    for (auto& sockets : per_worker) {
      for (const ListenerSocket& s : sockets) net::close_socket(s.fd);
    }
    per_worker.clear();
  };
  for (const ListenerRuntime& lr : runtime.listeners) {
    const std::string key = net::address_text(lr.bind);
    if (const auto kept = counters_.find(key); kept != counters_.end()) {
      counters.emplace(key, kept->second);  // every worker keeps its socket
      continue;
    }
    auto block = std::make_shared<ListenerCounters>(threads_.size());
    counters.emplace(key, block);
    for (size_t i = 0; i < threads_.size(); ++i) {
      std::string why;
      const int fd = net::open_listening_socket(lr.bind, kListenBacklog, why);
      if (fd < 0) {
        error = "listener \"" + lr.config->name + "\": cannot listen on " + lr.config->bind.text + ": " + why;
        close_all();
        return false;
      }
      per_worker[i].push_back(ListenerSocket{key, fd, block});
    }
  }
  return true;
}

bool WorkerPool::start(std::shared_ptr<const Runtime> runtime, std::string& error) {
  std::vector<std::vector<ListenerSocket>> sockets;
  std::map<std::string, std::shared_ptr<ListenerCounters>> counters;
  if (!open_new_binds(*runtime, sockets, counters, error)) return false;
  struct Failure {
    std::mutex mutex;
    std::string why;  // the last worker's failure, if any
  };
  auto failure = std::make_shared<Failure>();  // shared: a worker may answer after the wait gave up
  run_everywhere([&](size_t i) -> Command {
    auto batch = std::make_shared<SocketBatch>();
    batch->sockets = std::move(sockets[i]);
    return [batch, runtime, failure](Worker& w) {
      std::string why;
      if (w.start(runtime, batch->take(), why)) return;
      const std::lock_guard lock(failure->mutex);
      failure->why = why;
    };
  });
  {
    const std::lock_guard lock(failure->mutex);
    if (!failure->why.empty()) {
      error = failure->why;
      return false;
    }
  }
  runtime_ = std::move(runtime);
  counters_ = std::move(counters);
  started_ = true;
  return true;
}

bool WorkerPool::apply_runtime(std::shared_ptr<const Runtime> next, std::string& error) {
  if (shutting_down_) {
    error = "shutting down";
    return false;
  }
  std::vector<std::vector<ListenerSocket>> sockets;
  std::map<std::string, std::shared_ptr<ListenerCounters>> counters;
  if (!open_new_binds(*next, sockets, counters, error)) return false;  // nothing changed anywhere
  // Every bind is open for every worker: from here a worker cannot fail short of a socket that
  // cannot join its loop (no memory), which it logs; it then keeps its old configuration.
  run_everywhere([&](size_t i) -> Command {
    auto batch = std::make_shared<SocketBatch>();
    batch->sockets = std::move(sockets[i]);
    return [batch, next](Worker& w) {
      std::string why;
      if (!w.apply_runtime(next, batch->take(), why)) {
        log::error("worker kept its previous configuration", {{"worker", std::to_string(w.index())}, {"error", why}});
      }
    };
  });
  runtime_ = std::move(next);
  counters_ = std::move(counters);  // removed binds: their blocks live on with the retired listeners
  return true;
}

void WorkerPool::drain_backend(const std::shared_ptr<health::BackendState>& state, const std::string& label,
                               uint64_t window_ms) {
  // The state is kept alive by the command: a backend removed by this reload may lose its last
  // other owner before every worker has run it.
  struct Drained {
    std::atomic<size_t> sessions{0};
    std::atomic<bool> started{false};
  };
  auto drained = std::make_shared<Drained>();
  run_everywhere([&](size_t) -> Command {
    return [state, window_ms, drained](Worker& w) {
      if (const auto n = w.drain_backend(state.get(), window_ms)) {
        drained->sessions.fetch_add(*n, std::memory_order_relaxed);
        drained->started.store(true, std::memory_order_relaxed);
      }
    };
  });
  if (!drained->started.load(std::memory_order_relaxed)) return;  // already draining, or shutting down
  log::info("draining backend connections", {{"backend", label},
                                             {"sessions", std::to_string(drained->sessions.load(std::memory_order_relaxed))},
                                             {"window_ms", std::to_string(window_ms)}});
}

void WorkerPool::sync() {
  if (!started_) return;
  run_everywhere([](size_t) -> Command { return [](Worker&) {}; }, true);
}

void WorkerPool::undrain_backend(const std::shared_ptr<health::BackendState>& state) {
  run_everywhere([&](size_t) -> Command { return [state](Worker& w) { w.undrain_backend(state.get()); }; });
}

void WorkerPool::begin_shutdown(uint64_t delay_ms, uint64_t drain_timeout_ms, std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  for (const auto& thread : threads_) {
    const bool posted = thread->post([this, delay_ms, drain_timeout_ms](Worker& w) {
      w.begin_shutdown(delay_ms, drain_timeout_ms, [this] { on_worker_done(); });
    });
    if (!posted) done_.fetch_add(1, std::memory_order_acq_rel);  // already exiting: nothing to drain
  }
  on_control_wake();  // all of them may have been gone already
}

void WorkerPool::on_worker_done() {
  done_.fetch_add(1, std::memory_order_acq_rel);
  const std::lock_guard lock(control_mutex_);
  if (!control_closed_) uv_async_send(&control_wake_);
}

void WorkerPool::on_control_wake() {
  if (!shutdown_done_ || done_.load(std::memory_order_acquire) < threads_.size()) return;
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

void WorkerPool::stop() {
  for (const auto& thread : threads_) thread->exit();
  const std::lock_guard lock(control_mutex_);
  if (control_closed_) return;
  control_closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&control_wake_), nullptr);
}

void WorkerPool::join() {
  for (const auto& thread : threads_) {
    if (thread->thread.joinable()) thread->thread.join();
  }
}

}  // namespace ringway
