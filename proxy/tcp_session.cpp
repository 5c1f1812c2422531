// mode: tcp — a session as a plain L4 relay: no HTTP is parsed and no frame is tracked. The backend
// is picked by consistent hashing of the client's address (whatever the pool's hash_key says: there
// is no request to take a header, cookie or path from), with the same selection, retries, passive
// ejection and metrics as http mode (Session::begin_connecting). Then bytes flow both ways through
// the same relay as WebSockets (relay.cpp: try_send, a pending copy only of what the kernel
// did not take, reading stopped meanwhile), with each Flow marked `raw` so that its frame tracker is
// never fed.
//
// How it ends, without Close frames:
// - a peer's EOF is propagated as a FIN (half-close); the session ends when both sides are done,
//   or when a half-closed connection has moved no byte for kCloseGraceMs;
// - a peer's reset (or a read error) resets the other side too (SO_LINGER 0);
// - drain and shutdown: the session is told a deadline (go_away_at) and relays on until then; at
//   the deadline both peers get a FIN, bytes still arriving are dropped, and the cut comes
//   kCloseGraceMs later at the latest.
//
// Before the relay: a plain client is not read at all until its backend is connected (the kernel
// holds its bytes; behind a PROXY header, only what came with the header is held); a TLS client is
// read for its handshake, and the plaintext that came with it is held (one read at most: reading
// stops as the handshake completes) and sent first.
#include <algorithm>
#include <limits>
#include <string>

#include "health/hooks.h"
#include "lb/hash_key.h"
#include "lb/selector.h"
#include "proxy/edge_poll.h"
#include "proxy/handshake_state.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/session_callbacks.h"
#include "proxy/tls/tls_session.h"
#include "proxy/worker.h"

namespace ringway {
namespace {

uv_stream_t* stream(uv_tcp_t* tcp) { return reinterpret_cast<uv_stream_t*>(tcp); }

// The same bytes that hash_key: source_ip hashes in http mode, so a client lands on the same
// backend through either kind of listener of a pool.
uint64_t source_hash(std::string_view client_ip) {
  const lb::RequestKeySource source{client_ip, {}, {}};
  return lb::hash_bytes(lb::extract_hash_key(lb::HashKeySpec{}, source));
}

}  // namespace

void Session::begin_tcp() {
  // Routes need HTTP (--check refuses them on a tcp listener): the listener's pool takes it all.
  pool_ = listener_runtime_->default_pool;
  if (pool_ == nullptr) {
    refuse_tcp("no pool for this listener", CloseReason::NoBackend);
    return;
  }
  if (client_tls()) {
    // TLS termination: the backend is picked once the handshake is done (after_tls_read), so a
    // client that never finishes it costs no backend connection.
    phase_ = Phase::ClientTls;
    arm_timer(TimerPurpose::Handshake, runtime_->config->timeouts.handshake.count());
    uv_read_start(stream(&client_), SessionCallbacks::alloc, SessionCallbacks::client_read);
    return;
  }
  // Not read until the backend is connected: the kernel holds the client's bytes (after a PROXY
  // header, what came with it in the same read is held in handshake_->head).
  net::stop_reading(&client_);
  begin_connecting(source_hash(client_ip()));
}

void Session::on_tcp_client_read(ssize_t nread, const uv_buf_t* buf) {
  switch (phase_) {
    case Phase::Relaying:
      on_relay_read(c2b_, nread, buf);
      return;
    case Phase::ClientTls:
    case Phase::Connecting:
    case Phase::AwaitingResponse:
      // Before the relay only a TLS client is read (and a plain one for its PROXY header). Its
      // bytes are held until the backend is connected, and so is its end once its handshake has
      // finished: nothing is lost.
      if (nread > 0) {
        handshake_->head.append(buf->base, static_cast<size_t>(nread));
      } else if (nread == UV_EOF && (!client_tls() || client_tls()->handshake_done())) {
        held_client_eof_ = true;
        net::stop_reading(&client_);
      } else {
        close(nread == UV_EOF ? CloseReason::ClientClosed : CloseReason::ClientError);
      }
      return;
    default:
      return;  // closing: nowhere to go
  }
}

void Session::on_tcp_backend_read(ssize_t nread, const uv_buf_t* buf) {
  if (phase_ == Phase::Relaying) {
    on_relay_read(b2c_, nread, buf);
    return;
  }
  if (phase_ != Phase::AwaitingResponse) return;
  // Only a TLS backend is read before the relay (for its handshake). Bytes it sends right after the
  // handshake are held and relayed first.
  if (nread > 0) {
    handshake_->response_bytes.append(buf->base, static_cast<size_t>(nread));
    return;
  }
  if (backend_tls()->handshake_done()) {
    begin_tcp_relay();
    if (phase_ == Phase::Relaying) on_flow_ended(b2c_, static_cast<int>(nread));
    return;
  }
  // Gone during its handshake: a failed attempt like a failed connect (next candidate, passive).
  on_tls_failure(&backend_);
}

// After ciphertext was read and decrypted (tls_io.cpp): a finished handshake moves on.
void Session::after_tls_read(uv_tcp_t* tls_stream) {
  if (tls_stream == &client_) {
    if (phase_ != Phase::ClientTls || !client_tls()->handshake_done()) return;
    stop_timer();
    net::stop_reading(&client_);  // until the backend is connected; what came is held
    begin_connecting(source_hash(client_ip()));
    return;
  }
  if (phase_ == Phase::AwaitingResponse && backend_tls() && backend_tls()->handshake_done()) begin_tcp_relay();
}

// Over the limits, no backend, every connect failed: no HTTP to answer in, the client is closed.
// close() writes the access-log line and counts the reason (ringway_errors_total and the rest).
void Session::refuse_tcp(std::string_view reason, CloseReason why) {
  if (why == CloseReason::UpstreamTimeout) reason = "backend TLS handshake not finished in time";
  log::info("connection refused", {{"client", std::string(client_ip())},
                                   {"listener", listener_.name},
                                   {"mode", "tcp"},
                                   {"reason", std::string(reason)}});
  close(why);
}

void Session::begin_tcp_relay() {
  stop_timer();
  phase_ = Phase::Relaying;
  // Passive health: the connect (and the TLS handshake, with backend_tls) worked.
  health::on_backend_connected(*pool_->backends[backend_index_]->state);
  const std::string from_client = std::move(handshake_->head);
  const std::string from_backend = std::move(handshake_->response_bytes);
  handshake_.reset();  // an established connection keeps no connect state
  tcp_->last_io_ms = uv_now(worker().loop());

  if (!held_client_eof_) {
    uv_read_start(stream(&client_), SessionCallbacks::alloc, SessionCallbacks::client_read);
  }
  if (!backend_tls()) {  // a TLS backend is being read already (its handshake came that way)
    uv_read_start(stream(&backend_), SessionCallbacks::alloc, SessionCallbacks::backend_read);
  }
  relay_bytes(b2c_, std::span(reinterpret_cast<const uint8_t*>(from_backend.data()), from_backend.size()));
  if (phase_ != Phase::Relaying) return;
  relay_bytes(c2b_, std::span(reinterpret_cast<const uint8_t*>(from_client.data()), from_client.size()));
  if (phase_ != Phase::Relaying) return;
  if (held_client_eof_) {
    on_flow_ended(c2b_, UV_EOF);
    if (phase_ != Phase::Relaying) return;
  }
  if (tcp_->deadline_ms != 0) {  // told to go away while connecting
    if (uv_now(worker().loop()) >= tcp_->deadline_ms) {
      end_tcp_at_deadline();
    } else {
      arm_tcp_timer();
    }
  }
}

void Session::relay_raw(Flow& flow, std::span<const uint8_t> bytes) {
  flow.bytes += bytes.size();
  flow.observer.add_bytes(worker().metrics(), bytes.size());  // ringway_bytes_total{direction}
  tcp_->last_io_ms = uv_now(worker().loop());
  if (!flow.discard && !write_through(flow, bytes)) return;
  maybe_finish();
}

// `from` of this flow ended: EOF (status UV_EOF) or an error such as a reset.
void Session::on_raw_flow_ended(Flow& flow, int status) {
  if (flow.eof) return;
  flow.eof = true;
  net::stop_reading(from(flow));
  const bool from_client = &flow == &c2b_;
  if (status != UV_EOF) {
    // A reset (or a read error): the other side gets a reset too, as if it were connected straight
    // through.
    if (from_client) {
      reset_and_close(&backend_, CloseReason::ClientError);
      return;
    }
    backend_dead_ = true;
    if (!c2b_.eof && !tcp_ending_) {
      // In the middle of the conversation: a failure, counted for passive ejection as in http mode
      // (after an end began, a reset is only an impolite way to finish).
      const BackendRuntime& gone = *pool_->backends[backend_index_];
      log::warn("backend reset the connection", {{"pool", pool_->config->name},
                                                 {"backend", gone.config->name},
                                                 {"client", std::string(client_ip())},
                                                 {"error", uv_strerror(status)}});
      health::on_backend_failure(*gone.state, pool_->config->passive, uv_now(worker().loop()),
                                 pool_->config->name, gone.config->name, uv_strerror(status));
    }
    reset_and_close(&client_, CloseReason::BackendVanished);
    return;
  }
  if (reason_ == CloseReason::None) reason_ = from_client ? CloseReason::ClientClosed : CloseReason::BackendClosed;
  maybe_finish();  // the other side ended already: closing is the FIN (after the access-log line)
  if (phase_ != Phase::Relaying) return;
  shutdown_write(flow);  // the FIN goes on to the other side, after the bytes still pending
  start_close_grace();
}

// SO_LINGER 0 then close: the peer sees a reset rather than a FIN. With a shutdown already queued
// libuv refuses (UV_EINVAL); the ordinary close then ends it with the FIN already on its way.
// The access-log line is written first (a reset is rare: no batching), so that it is in the log
// before the peer sees the reset.
void Session::reset_and_close(uv_tcp_t* toward, CloseReason why) {
  const bool open = toward == &client_ || backend_open_;
  if (!tcp_ending_) reason_ = why;  // after ringway's FINs the end stays ringway's (drain, shutdown)
  close(why);
  log::flush_batch();
  if (open && !uv_is_closing(reinterpret_cast<uv_handle_t*>(toward))) {
    uv_tcp_close_reset(toward, toward == &client_ ? SessionCallbacks::handle_closed : SessionCallbacks::backend_closed);
  }
}

// The drain or shutdown deadline: a FIN to both peers. Anything they still send is read and
// dropped (closing with unread input would turn the FIN into a reset).
void Session::end_tcp_at_deadline() {
  tcp_->deadline_ms = 0;
  tcp_ending_ = true;
  if (reason_ == CloseReason::None) reason_ = CloseReason::Shutdown;
  c2b_.discard = true;
  b2c_.discard = true;
  shutdown_write(c2b_);
  shutdown_write(b2c_);
  grace_armed_ = true;
  tcp_->grace_since_ms = uv_now(worker().loop());  // strict from here: the peers only have to close
  arm_tcp_timer();
  maybe_finish();
}

void Session::go_away_at(uint64_t deadline_ms) {
  if (phase_ == Phase::Closed || tcp_ending_) return;
  metrics::note_go_away(worker().metrics(), marks_, !worker().accepting());  // listeners closed: shutdown
  going_away_ = true;
  deadline_ms = std::max<uint64_t>(deadline_ms, 1);  // 0 means "none"
  if (tcp_->deadline_ms == 0 || deadline_ms < tcp_->deadline_ms) tcp_->deadline_ms = deadline_ms;
  if (phase_ != Phase::Relaying) return;  // begin_tcp_relay looks at the deadline
  if (uv_now(worker().loop()) >= tcp_->deadline_ms) {
    end_tcp_at_deadline();
    return;
  }
  arm_tcp_timer();
}

bool Session::cancel_go_away() {
  if (phase_ == Phase::Closed || tcp_ending_ || tcp_->deadline_ms == 0) return false;
  tcp_->deadline_ms = 0;
  going_away_ = false;
  if (phase_ == Phase::Relaying) arm_tcp_timer();
  return true;
}

// A peer's EOF began the end. A half-closed connection lives on while bytes flow the other way
// (a request sent, then the answer streamed); kCloseGraceMs without a byte ends it.
void Session::start_tcp_grace() {
  if (!grace_armed_) {
    grace_armed_ = true;
    tcp_->grace_since_ms = uv_now(worker().loop());
  }
  arm_tcp_timer();
}

// One timer for both reasons to wake while relaying: the deadline and the close grace.
void Session::arm_tcp_timer() {
  if (phase_ != Phase::Relaying) return;  // the timer guards the connect until then
  uint64_t due = std::numeric_limits<uint64_t>::max();
  if (tcp_->deadline_ms != 0) due = tcp_->deadline_ms;
  if (grace_armed_) {
    const uint64_t since = tcp_ending_ ? tcp_->grace_since_ms : std::max(tcp_->grace_since_ms, tcp_->last_io_ms);
    due = std::min(due, since + kCloseGraceMs);
  }
  if (due == std::numeric_limits<uint64_t>::max()) {
    stop_timer();
    return;
  }
  const uint64_t now = uv_now(worker().loop());
  arm_timer(TimerPurpose::Tcp, due > now ? due - now : 0);
}

void Session::on_tcp_timer() {
  const uint64_t now = uv_now(worker().loop());
  if (tcp_->deadline_ms != 0 && now >= tcp_->deadline_ms) {
    end_tcp_at_deadline();
    return;
  }
  if (grace_armed_) {
    const uint64_t since = tcp_ending_ ? tcp_->grace_since_ms : std::max(tcp_->grace_since_ms, tcp_->last_io_ms);
    if (now >= since + kCloseGraceMs) {
      close(reason_ == CloseReason::None ? CloseReason::LingerTimeout : reason_);
      return;
    }
  }
  arm_tcp_timer();  // bytes moved meanwhile: the half-closed connection lives on
}

}  // namespace ringway
