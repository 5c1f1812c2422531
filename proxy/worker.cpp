#include "proxy/worker.h"

#include <algorithm>

#include "proxy/log.h"
#include "proxy/session.h"

namespace ringway {
namespace {
constexpr uint64_t kPaceTickMs = 10;
constexpr int kListenBacklog = 4096;
}  // namespace

Worker::Worker(uv_loop_t* loop) : loop_(loop) {
  uv_timer_init(loop_, &shutdown_timer_);
  shutdown_timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&shutdown_timer_));
}

bool Worker::start(std::shared_ptr<const Runtime> runtime, std::string& error) {
  runtime_ = std::move(runtime);
  for (const ListenerRuntime& lr : runtime_->listeners) {
    auto state = std::make_unique<ListenerState>();
    state->worker = this;
    state->name = lr.config->name;
    state->runtime = &lr;
    uv_tcp_init(loop_, &state->handle);
    state->handle.data = state.get();
    int rc = uv_tcp_bind(&state->handle, reinterpret_cast<const sockaddr*>(&lr.bind), 0);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&state->handle), kListenBacklog, on_connection);
    }
    if (rc != 0) {
      error = "listener \"" + lr.config->name + "\": cannot listen on " + lr.config->bind.text + ": " +
              uv_strerror(rc);
      // The handle is closed with the others below; the ListenerState must outlive it.
      listeners_.push_back(std::move(state));
      close_listeners();
      return false;
    }
    log::info("listening", {{"listener", lr.config->name}, {"bind", lr.config->bind.text}});
    listeners_.push_back(std::move(state));
  }
  accepting_ = true;
  return true;
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* listener = static_cast<ListenerState*>(server->data);
  Worker& worker = *listener->worker;
  if (status < 0) {
    log::warn("accept failed", {{"listener", listener->name}, {"error", uv_strerror(status)}});
    return;
  }
  auto* session = new Session(worker, *listener, worker.runtime_);
  session->accept(server);  // frees itself through its close callbacks on failure
}

void Worker::session_started(Session& session) {
  session.link.owner = &session;
  live_.push_back(session.link);
  ++sessions_;
  ++untold_;
}

void Worker::session_told(Session& session) {
  if (session.told) return;
  session.told = true;
  told_.push_back(session.link);  // push_back unlinks from live_ first
  --untold_;
}

void Worker::session_finished(Session& session) {
  if (!session.told) --untold_;
  session.link.unlink();
  --sessions_;
  maybe_done();
}

void Worker::close_listeners() {
  accepting_ = false;
  for (auto& listener : listeners_) {
    if (listener->closing) continue;
    listener->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener->handle), nullptr);
  }
}

void Worker::begin_shutdown(uint64_t delay_ms, uint64_t drain_timeout_ms, std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  const uint64_t now = uv_now(loop_);
  drain_start_ms_ = now + delay_ms;
  drain_end_ms_ = drain_start_ms_ + drain_timeout_ms;
  log::info("shutdown started", {{"delay_ms", std::to_string(delay_ms)},
                                 {"drain_timeout_ms", std::to_string(drain_timeout_ms)},
                                 {"sessions", std::to_string(sessions_)}});
  uv_ref(reinterpret_cast<uv_handle_t*>(&shutdown_timer_));
  uv_timer_start(
      &shutdown_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->pace_shutdown(); },
      delay_ms, kPaceTickMs);
}

// Each tick tells a share of the remaining sessions to go away, so the Closes (and the clients'
// reconnects elsewhere) are spread evenly over the window instead of arriving in one burst. The
// last Close goes out at 80% of the window so that the close handshakes can finish before it ends.
void Worker::pace_shutdown() {
  const uint64_t now = uv_now(loop_);
  if (accepting_) {
    close_listeners();
    last_pace_ms_ = now;  // the window starts when the listeners stop accepting
  }
  if (now >= drain_end_ms_) {
    log::warn("shutdown drain timeout: closing remaining sessions",
              {{"sessions", std::to_string(sessions_)}});
    abort_all();
    maybe_done();
    return;
  }
  const uint64_t window = drain_end_ms_ - drain_start_ms_;
  const uint64_t send_by = drain_start_ms_ + window * 8 / 10;
  // Fractional credit: with 100 sessions over 10 s a tick owes 0.1 of a session, so sessions go one
  // every 100 ms rather than one per tick.
  if (now + kPaceTickMs >= send_by) {
    pace_credit_ = static_cast<double>(untold_);
  } else {
    const uint64_t elapsed = now > last_pace_ms_ ? now - last_pace_ms_ : 0;
    pace_credit_ += static_cast<double>(untold_) * static_cast<double>(elapsed) /
                    static_cast<double>(send_by - last_pace_ms_);
  }
  last_pace_ms_ = now;
  uint64_t to_tell = static_cast<uint64_t>(pace_credit_);
  pace_credit_ -= static_cast<double>(to_tell);
  while (to_tell-- > 0) {
    IntrusiveList<Session>::Node* node = live_.front();
    if (node == nullptr) break;
    Session* session = node->owner;
    session_told(*session);
    session->go_away();
  }
  maybe_done();
}

void Worker::abort_all() {
  close_listeners();
  auto end = [](IntrusiveList<Session>::Node* node) { node->owner->close(CloseReason::Shutdown); };
  live_.for_each(end);
  told_.for_each(end);
}

void Worker::close_handles() {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&shutdown_timer_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&shutdown_timer_), nullptr);
  }
}

void Worker::maybe_done() {
  if (!shutting_down_ || sessions_ != 0 || !shutdown_done_) return;
  uv_timer_stop(&shutdown_timer_);
  if (accepting_) close_listeners();
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

}  // namespace ringway
