#include "proxy/worker.h"

#include <algorithm>

#include "proxy/listen_socket.h"
#include "proxy/log.h"
#include "proxy/net.h"
#include "proxy/session.h"
#include "proxy/session_callbacks.h"

namespace ringway {
namespace {
constexpr int kListenBacklog = 4096;
}  // namespace

Worker::Worker(uv_loop_t* loop, size_t index, ProcessConnections& connections)
    : loop_(loop), index_(index), connections_(connections) {
  uv_timer_init(loop_, &delay_timer_);
  delay_timer_.data = this;
  // Prepare callbacks run once per iteration, just before the loop polls (and may sleep): every
  // line logged since the last one, by I/O, timer or close callbacks, is written by then.
  uv_prepare_init(loop_, &before_poll_);
  before_poll_.data = this;
  uv_prepare_start(&before_poll_, &Worker::before_poll);
  uv_unref(reinterpret_cast<uv_handle_t*>(&before_poll_));  // never keeps the loop alive
}

void Worker::before_poll(uv_prepare_t* prepare) {
  auto& self = *static_cast<Worker*>(prepare->data);
  log::flush_batch();
  // Closing handles runs no callback now (libuv calls them after the poll), but a session whose
  // handles were already closed finishes here, which may end a shutdown: indexes stay valid
  // whatever that does.
  for (size_t i = 0; i < self.closing_.size(); ++i) self.closing_[i]->close_sockets();
  self.closing_.clear();  // keeps its capacity: no allocation per iteration
}

Worker::~Worker() = default;

uint32_t Worker::wakeup_coalescing_us() const {
  return runtime_ ? runtime_->config->wakeup_coalescing_us : 0;  // 0 until started
}

namespace {
// The handed socket for `key`, or null.
ListenerSocket* socket_for(std::vector<ListenerSocket>& sockets, const std::string& key) {
  const auto it = std::find_if(sockets.begin(), sockets.end(),
                               [&](const ListenerSocket& s) { return s.fd >= 0 && s.bind_key == key; });
  return it == sockets.end() ? nullptr : &*it;
}

// Sockets handed over but not used (a failure) are closed here: the worker took them over.
void close_unused(std::vector<ListenerSocket>& sockets) {
  for (ListenerSocket& s : sockets) {
    net::close_socket(s.fd);
    s.fd = -1;
  }
}
}  // namespace

bool Worker::start(std::shared_ptr<const Runtime> runtime, std::vector<ListenerSocket> sockets, std::string& error) {
  runtime_ = std::move(runtime);
  for (const ListenerRuntime& lr : runtime_->listeners) {
    ListenerSocket* socket = socket_for(sockets, net::address_text(lr.bind));
    auto state = socket != nullptr ? open_listener(lr, *socket, error) : nullptr;
    if (!state) {
      if (socket == nullptr) error = "listener \"" + lr.config->name + "\": no socket for " + lr.config->bind.text;
      close_unused(sockets);
      close_listeners();
      return false;
    }
    listeners_.push_back(std::move(state));
  }
  close_unused(sockets);
  accepting_ = true;
  return true;
}

// Takes `socket` over (its fd is then owned by the handle, also on failure).
std::unique_ptr<ListenerState> Worker::open_listener(const ListenerRuntime& lr, ListenerSocket& socket,
                                                     std::string& error) {
  auto state = std::make_unique<ListenerState>(socket.counters, index_);
  state->worker = this;
  state->name = lr.config->name;
  state->runtime = &lr;
  state->bind_key = socket.bind_key;
  uv_tcp_init(loop_, &state->handle);
  state->handle.data = state.get();
  int rc = uv_tcp_open(&state->handle, socket.fd);
  if (rc != 0) net::close_socket(socket.fd);
  socket.fd = -1;
  // The socket already listens (the control thread made it so); this registers the accept callback.
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&state->handle), kListenBacklog, on_connection);
  if (rc != 0) {
    error = "listener \"" + lr.config->name + "\": cannot listen on " + lr.config->bind.text + ": " +
            uv_strerror(rc);
    close_listener(*state);
    retired_.push_back(std::move(state));  // freed once its close callback has run
    return nullptr;
  }
  if (index_ == 0) log::info("listening", {{"listener", lr.config->name}, {"bind", lr.config->bind.text}});
  return state;
}

void Worker::close_listener(ListenerState& listener) {
  if (listener.closing) return;
  listener.closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener.handle), [](uv_handle_t* h) {
    static_cast<ListenerState*>(h->data)->closed = true;
  });
}

bool Worker::apply_runtime(std::shared_ptr<const Runtime> next, std::vector<ListenerSocket> sockets,
                           std::string& error) {
  if (shutting_down_) {
    close_unused(sockets);
    error = "shutting down";
    return false;
  }
  // Pair every listener of the new configuration with an open socket on the same address, or open
  // a new one. Nothing is closed before every new socket is listening.
  std::vector<std::unique_ptr<ListenerState>> next_listeners;
  std::vector<const ListenerRuntime*> kept_runtime;
  for (const ListenerRuntime& lr : next->listeners) {
    const std::string key = net::address_text(lr.bind);
    auto same = std::find_if(listeners_.begin(), listeners_.end(), [&](const auto& l) {
      return l && !l->closing && l->bind_key == key;
    });
    if (same != listeners_.end()) {
      next_listeners.push_back(std::move(*same));  // keeps its socket
      kept_runtime.push_back(&lr);
      continue;
    }
    ListenerSocket* socket = socket_for(sockets, key);
    auto opened = socket != nullptr ? open_listener(lr, *socket, error) : nullptr;
    if (!opened) {
      if (socket == nullptr) error = "listener \"" + lr.config->name + "\": no socket for " + lr.config->bind.text;
      close_unused(sockets);
      // Undo: sockets opened for this reload close; kept ones go back to their old slots.
      for (size_t i = 0; i < next_listeners.size(); ++i) {
        if (kept_runtime[i] == nullptr) {
          close_listener(*next_listeners[i]);
          retired_.push_back(std::move(next_listeners[i]));
        } else {
          *std::find(listeners_.begin(), listeners_.end(), nullptr) = std::move(next_listeners[i]);
        }
      }
      return false;
    }
    next_listeners.push_back(std::move(opened));
    kept_runtime.push_back(nullptr);
  }
  close_unused(sockets);
  // Commit: removed listeners stop accepting; kept ones point at the new configuration.
  for (auto& old : listeners_) {
    if (!old) continue;
    if (index_ == 0) {
      log::info("listener removed", {{"listener", old->name}, {"bind", old->runtime->config->bind.text}});
    }
    close_listener(*old);
    retired_.push_back(std::move(old));
  }
  for (size_t i = 0; i < next_listeners.size(); ++i) {
    if (kept_runtime[i] != nullptr) {
      next_listeners[i]->runtime = kept_runtime[i];
      next_listeners[i]->name = kept_runtime[i]->config->name;
    }
  }
  listeners_ = std::move(next_listeners);
  runtime_ = std::move(next);
  reap_retired();
  return true;
}

void Worker::fire_session_timer(TimerWheel::Entry& entry) { SessionCallbacks::timer(entry); }

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* listener = static_cast<ListenerState*>(server->data);
  Worker& worker = *listener->worker;
  if (status < 0) {
    log::warn("accept failed", {{"listener", listener->name}, {"error", uv_strerror(status)}});
    return;
  }
  auto* session = new Session(*listener, worker.runtime_);
  session->accept(server);  // on failure it frees itself through its close callbacks
}

bool Worker::admit_ip(const std::string& ip, uint64_t limit) { return connections_.admit_ip(ip, limit); }

void Worker::release_ip(const std::string& ip) { connections_.release_ip(ip); }

void Worker::session_started(Session& session) {
  live_.push_back(session.link());
  ++sessions_;
  ++accepted_;
  connections_.started();
  heap_trimmer_.on_sessions(sessions_);
}

void Worker::session_finished(Session& session) {
  session.link().unlink();
  --sessions_;
  connections_.finished();
  heap_trimmer_.on_sessions(sessions_);
  maybe_done();
}

void Worker::close_listeners() {
  accepting_ = false;
  for (auto& listener : listeners_) close_listener(*listener);
}

void Worker::reap_retired() {
  std::erase_if(retired_, [](const auto& l) { return l->closed && l->active == 0; });
}

std::optional<size_t> Worker::drain_backend(const health::BackendState* state, uint64_t window_ms) {
  reap_finished_drains();
  if (shutting_down_) return std::nullopt;  // shutdown already tells everyone
  for (const DrainJob& job : drains_) {
    if (job.state == state && job.pacer->running()) return std::nullopt;  // already draining
  }
  auto pacer = std::make_unique<Pacer>(loop_, told_);
  const uint64_t deadline = uv_now(loop_) + window_ms;
  size_t tcp = 0;
  live_.for_each([&](Session& s) {
    if (!s.uses_backend(state)) return;
    if (s.tcp_mode()) {  // not paced: relays on until the deadline, then a FIN (tcp_session.cpp)
      told_.push_back(s.link());
      s.go_away_at(deadline);
      ++tcp;
      return;
    }
    pacer->waiting().push_back(s.link());
  });
  const size_t sessions = pacer->waiting().size() + tcp;
  Pacer* raw = pacer.get();
  pacer->start(0, window_ms, [raw] {
    if (raw->waiting().empty()) raw->stop();
  });
  drains_.push_back(DrainJob{state, std::move(pacer)});
  return sessions;
}

void Worker::undrain_backend(const health::BackendState* state) {
  for (DrainJob& job : drains_) {
    if (job.state != state) continue;
    job.pacer->stop();
    job.pacer->waiting().move_all_to(live_);  // not told yet: they simply stay
  }
  if (!shutting_down_) {  // tcp sessions waiting for this drain's deadline stay too
    told_.for_each([&](Session& s) {
      if (s.tcp_mode() && s.uses_backend(state) && s.cancel_go_away()) live_.push_back(s.link());
    });
  }
  reap_finished_drains();
}

void Worker::reap_finished_drains() {
  std::erase_if(drains_, [](const DrainJob& job) { return !job.pacer->running(); });
}

void Worker::begin_shutdown(uint64_t delay_ms, uint64_t drain_timeout_ms, std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  drain_timeout_ms_ = drain_timeout_ms;
  log::info("shutdown started", {{"worker", std::to_string(index_)},
                                 {"delay_ms", std::to_string(delay_ms)},
                                 {"drain_timeout_ms", std::to_string(drain_timeout_ms)},
                                 {"sessions", std::to_string(sessions_)}});
  uv_timer_start(
      &delay_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->start_shutdown_drain(); },
      delay_ms, 0);
}

// After shutdown.delay: no new connections; every session (also those waiting in a backend drain)
// is told to go away, paced over shutdown.drain_timeout.
void Worker::start_shutdown_drain() {
  close_listeners();
  drain_end_ms_ = uv_now(loop_) + drain_timeout_ms_;
  shutdown_pacer_ = std::make_unique<Pacer>(loop_, told_);
  for (DrainJob& job : drains_) {
    job.pacer->stop();
    job.pacer->waiting().move_all_to(shutdown_pacer_->waiting());
  }
  live_.move_all_to(shutdown_pacer_->waiting());
  // mode: tcp sessions are not paced: they relay on until the deadline, then get a FIN.
  shutdown_pacer_->waiting().for_each([&](Session& s) {
    if (s.tcp_mode()) told_.push_back(s.link());
  });
  told_.for_each([&](Session& s) {
    if (s.tcp_mode()) s.go_away_at(drain_end_ms_);
  });
  shutdown_pacer_->start(0, drain_timeout_ms_, [this] { on_shutdown_tick(); });
  maybe_done();
}

void Worker::on_shutdown_tick() {
  const uint64_t now = uv_now(loop_);
  if (now >= drain_end_ms_ && sessions_ != 0 && !deadline_passed_) {
    deadline_passed_ = true;
    log::warn("shutdown drain timeout: closing the remaining sessions",
              {{"worker", std::to_string(index_)}, {"sessions", std::to_string(sessions_.get())}});
    // WebSockets are cut; tcp sessions get their FIN now (if their own timer has not fired yet)
    // and the close grace to finish, after which whatever is left is cut below.
    const auto end = [now](Session& s) {
      if (s.tcp_mode()) {
        s.go_away_at(now);
      } else {
        s.close(CloseReason::Shutdown);
      }
    };
    live_.for_each(end);
    told_.for_each(end);
    for (DrainJob& job : drains_) job.pacer->waiting().for_each(end);
    shutdown_pacer_->waiting().for_each(end);
  }
  if (now >= drain_end_ms_ + Session::kCloseGraceMs && sessions_ != 0) abort_all();
  maybe_done();
}

void Worker::abort_all() {
  close_listeners();
  auto end = [](Session& s) { s.close(CloseReason::Shutdown); };
  live_.for_each(end);
  told_.for_each(end);
  for (DrainJob& job : drains_) job.pacer->waiting().for_each(end);
  if (shutdown_pacer_) shutdown_pacer_->waiting().for_each(end);
}

void Worker::close_handles() {
  drains_.clear();
  shutdown_pacer_.reset();
  heap_trimmer_.close();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&before_poll_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&before_poll_), nullptr);
  }
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&delay_timer_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&delay_timer_), nullptr);
  }
  timers_.close();
}

void Worker::maybe_done() {
  if (!shutting_down_ || accepting_ || sessions_ != 0 || !shutdown_done_) return;
  if (shutdown_pacer_) shutdown_pacer_->stop();
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

}  // namespace ringway
