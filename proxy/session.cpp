// The handshake half of a session: from accept to the backend's 101 (or to the error answer).
// The relay half is in relay.cpp.
#include "proxy/session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "health/hooks.h"
#include "lb/hash_key.h"
#include "lb/selector.h"
#include "proxy/access_log.h"
#include "proxy/edge_poll.h"
#include "proxy/handshake_state.h"
#include "proxy/http_exchange.h"
#include "proxy/tls/tls_session.h"
#include "proxy/client_policy.h"
#include "proxy/log.h"
#include "proxy/net.h"
#include "proxy/session_callbacks.h"
#include "proxy/worker.h"

namespace ringway {
namespace {

// A backend's answer head larger than this is not a WebSocket answer we want to buffer.
constexpr size_t kMaxResponseHead = 64 * 1024;

// Every client socket has TCP_NODELAY. Linux passes it on from the listening socket
// (listen_socket.cpp sets it there), so only the first connection of a listener looks whether it
// did; later ones skip the setsockopt, or, where it did not, set it as before.
void set_client_nodelay(uv_tcp_t* client, ListenerState& listener) {
  if (listener.nodelay_inherited) return;
  if (!listener.nodelay_checked) {
    listener.nodelay_checked = true;
    uv_os_fd_t fd = -1;
    int on = 0;
    socklen_t length = sizeof on;
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(client), &fd) == 0 &&
        ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &length) == 0 && on != 0) {
      listener.nodelay_inherited = true;
      return;
    }
  }
  uv_tcp_nodelay(client, 1);
}

}  // namespace

Session::Session(ListenerState& listener, std::shared_ptr<const Runtime> runtime)
    : listener_(listener),
      runtime_(std::move(runtime)),
      listener_runtime_(listener.runtime),
      c2b_(ws::Direction::ClientToServer, runtime_->config->websocket.max_message_size),
      b2c_(ws::Direction::ServerToClient, runtime_->config->websocket.max_message_size) {
  client_.data = this;
  backend_.data = this;
  tcp_mode_ = listener_.runtime->config->mode == conf::ListenerMode::Tcp;
  c2b_.raw = b2c_.raw = tcp_mode_;
  if (tcp_mode_) tcp_ = std::make_unique<TcpClock>();
}

// Cancelled by close() already; a session freed another way must not stay in the worker's wheel.
Session::~Session() { stop_timer(); }

std::string_view Session::client_ip() const { return client_text_.first(); }
std::string_view Session::target() const { return client_text_.second(); }
void Session::set_client_ip(std::string_view ip) { client_text_.set_first(ip); }
void Session::set_target(std::string_view target) { client_text_.set_second(target); }

bool Session::accept(uv_stream_t* server) {
  uv_loop_t* loop = worker().loop();
  uv_tcp_init(loop, &client_);
  open_handles_ = 1;  // client_ (its timer is an entry in the worker's wheel, not a handle)
  marks_.accepted_ns = uv_hrtime();
  worker().session_started(*this);
  ++listener_.active;
  ++listener_.total;

  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&client_)) != 0) {
    close(CloseReason::ClientError);
    return false;
  }
  set_client_nodelay(&client_, listener_);
  sockaddr_storage peer{};
  int len = sizeof peer;
  if (uv_tcp_getpeername(&client_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    set_client_ip(net::ip_text(peer));
  }

  if (listener_.runtime->tls) tls_ends().client = std::make_unique<tls::TlsSession>(listener_.runtime->tls);
  handshake_ = std::make_unique<HandshakeState>();
  handshake_->client_address = peer;
  const uint64_t limit = runtime_->config->limits.max_connections;
  if (limit != 0 && worker().session_count() > limit) {
    reject(503, "too many connections", CloseReason::Overloaded);
    return true;
  }
  if (listener_.runtime->config->proxy_protocol) {
    read_proxy_header();  // proxy_header_io.cpp: admit_client() once the header named the client
    return true;
  }
  admit_client();
  return true;
}

// limits.max_connections_per_ip counts the client's address (behind a PROXY header, the one the
// header named), then the client's own protocol starts.
void Session::admit_client() {
  const uint64_t per_ip = runtime_->config->limits.max_connections_per_ip;
  if (per_ip != 0) {
    if (!worker().admit_ip(std::string(client_ip()), per_ip)) {
      reject(429, "too many connections from this address", CloseReason::TooManyPerIp);
      return;
    }
    counted_per_ip_ = true;
  }
  begin_client_protocol();
}

void Session::begin_client_protocol() {
  if (tcp_mode_) {
    begin_tcp();  // tcp_session.cpp
    return;
  }
  phase_ = Phase::ReadingHead;
  arm_timer(TimerPurpose::Handshake, runtime_->config->timeouts.handshake.count());
  uv_read_start(reinterpret_cast<uv_stream_t*>(&client_), SessionCallbacks::alloc,
                SessionCallbacks::client_read);
}

// One timer per session, an entry of the worker's wheel (proxy/timer_wheel.h): its purpose says
// what expiry means. Never armed once closed: the entry must be out of the wheel before the
// session frees itself.
void Session::arm_timer(TimerPurpose purpose, uint64_t timeout_ms) {
  if (phase_ == Phase::Closed) return;
  timer_purpose_ = purpose;
  worker().timers().arm(*this, timeout_ms);
}

void Session::stop_timer() { worker().timers().cancel(*this); }

void Session::on_timer() {
  switch (timer_purpose_) {
    case TimerPurpose::Handshake:
      if (phase_ == Phase::ReadingProxyHeader) {
        fail_proxy_header("PROXY header not received in time");
        return;
      }
      if (client_tls() && !client_tls()->handshake_done()) {
        // No TLS session to answer in: a stalled TLS handshake is simply dropped.
        log::info("tls handshake timed out", {{"client", std::string(client_ip())}, {"listener", listener_.name}});
        close(CloseReason::Tls);
        return;
      }
      if (http_requests_ > 0 && handshake_->head.empty()) {
        close(CloseReason::IdleTimeout);  // keep-alive: an idle client asked for nothing, no 408
        return;
      }
      reject(408, "request head not received in time", CloseReason::HandshakeTimeout);
      return;
    case TimerPurpose::Connect:
      on_connect_failed(UV_ETIMEDOUT);
      return;
    case TimerPurpose::Response:
      reject(504, "backend did not answer in time", CloseReason::UpstreamTimeout);
      return;
    case TimerPurpose::Linger:
      close(reason_ == CloseReason::None ? CloseReason::LingerTimeout : reason_);
      return;
    case TimerPurpose::Policy:
      on_policy_timer();
      return;
    case TimerPurpose::Tcp:
      on_tcp_timer();
      return;
  }
}

void Session::on_client_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  if (tcp_mode_) {
    on_tcp_client_read(nread, buf);
    return;
  }
  switch (phase_) {
    case Phase::Relaying:
      on_relay_read(c2b_, nread, buf);
      return;
    case Phase::Exchanging:
      on_exchange_client_read(nread, buf);
      return;
    case Phase::ReadingHead:
      if (nread < 0) {
        close(CloseReason::ClientClosed);  // gone before sending a whole head: nobody to answer
        return;
      }
      append_head_bytes(std::string_view(buf->base, static_cast<size_t>(nread)));
      return;
    case Phase::Lingering:
      // Draining the client's input after an answer so the kernel sends no RST over it.
      if (nread < 0) close(reason_);
      return;
    default:
      if (handshake_ && !exchange_) {
        hold_client_bytes(nread, buf);  // an upgrade in progress
        return;
      }
      // A plain request is not read in these phases; a late EOF/error ends the session. Over TLS,
      // records that followed its head in the same read are decrypted after the head was handled.
      if (nread < 0) {
        close(CloseReason::ClientClosed);
        return;
      }
      if (handshake_) handshake_->head.append(buf->base, static_cast<size_t>(nread));
      return;
  }
}

// An upgrade in progress (connecting, awaiting or forwarding the backend's answer) still reads the
// client: bytes sent after the head are pipelined, held with it until the backend's 101, and an end
// is held too, for the relay to see where it would have read it from the kernel. Over TLS, records
// that followed the head in the same read arrive here as well.
void Session::hold_client_bytes(ssize_t nread, const uv_buf_t* buf) {
  HandshakeState& hs = *handshake_;
  if (nread < 0) {
    if (hs.client_end == 0) hs.client_end = static_cast<int>(nread);
    hs.client_reading = false;  // libuv stops reading at an end; an error is told to stop here
    net::stop_reading(&client_);
    return;
  }
  hs.head.append(buf->base, static_cast<size_t>(nread));
  if (hs.client_reading && hs.head.size() - hs.parse.head.head_length > HandshakeState::kMaxHeldPipelined) {
    hs.client_reading = false;  // bounded: the rest waits in the kernel until the 101
    net::stop_reading(&client_);
  }
}

// Parsing starts only once the blank line has arrived (or the limit is passed), so a head that
// trickles in byte by byte costs linear time, not quadratic.
void Session::append_head_bytes(std::string_view bytes) {
  std::string& head = handshake_->head;
  const size_t search_from = head.size() >= 3 ? head.size() - 3 : 0;
  head.append(bytes);
  const bool complete = head.find("\r\n\r\n", search_from) != std::string::npos;
  if (!complete && head.size() <= runtime_->config->limits.max_header_size) return;
  handle_head();
}

void Session::handle_head() {
  HandshakeState& hs = *handshake_;
  const conf::Config& config = *runtime_->config;
  hs.parse = http::parse_request_head(hs.head, config.limits.max_header_size);
  switch (hs.parse.status) {
    case http::HeadStatus::NeedMore:
      return;
    case http::HeadStatus::TooLarge:
      reject(431, "request header fields too large", CloseReason::BadRequest);
      return;
    case http::HeadStatus::Malformed:
      reject(400, hs.parse.reason, CloseReason::BadRequest);
      return;
    case http::HeadStatus::Complete:
      break;
  }
  stop_timer();
  const http::RequestHead& head = hs.parse.head;
  set_target(head.target);
  if (!http::wants_websocket(head)) {
    // A plain request: the next one is not read until this one is answered.
    net::stop_reading(&client_);
    handle_plain_head();  // plain HTTP (http_exchange.cpp)
    return;
  }
  // An upgrade: the client stays read (hold_client_bytes) while the backend is tried.
  hs.client_reading = true;

  const http::UpgradeVerdict verdict = http::validate_upgrade(head);
  if (verdict.status == 426) {
    reject(426, verdict.reason, CloseReason::BadRequest, "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  if (verdict.status != 0) {
    reject(verdict.status, verdict.reason, CloseReason::BadRequest);
    return;
  }
  hs.key.assign(verdict.key);

  uint64_t key_hash = 0;
  if (!route_request(head, key_hash)) return;
  hs.backend_head = http::build_backend_head(head, client_ip(), client_tls() ? "https" : "http");
  begin_connecting(key_hash);
}

// Upgrades and plain requests alike: the pool (404 when no route matches), its affinity cookie,
// and the hash of its hash_key.
bool Session::route_request(const http::RequestHead& head, uint64_t& key_hash) {
  const PoolRuntime* pool = listener_runtime_->route(head.host(), head.target);
  if (pool != pool_ && backend_open_) {
    // A kept backend connection of another pool (a previous plain request): released while pool_
    // still names its pool.
    release_backend();
    close_backend_handle();
  }
  pool_ = pool;
  if (pool_ == nullptr) {
    reject(404, "no route for this host and path", CloseReason::NoBackend);
    return false;
  }
  const lb::RequestKeySource source{client_ip(), head.target, head.headers};
  read_affinity(head.headers);
  key_hash = lb::hash_bytes(lb::extract_hash_key(pool_->config->hash_key, source));
  return true;
}

// Both modes pick and connect the same way from here: consistent hashing of `key_hash` over the
// pool's usable backends (bounded loads included), `connect_retries` further candidates.
void Session::begin_connecting(uint64_t key_hash) {
  HandshakeState& hs = *handshake_;
  hs.key_hash = key_hash;
  hs.usable.assign(pool_->backends.size(), 1);
  for (size_t i = 0; i < pool_->backends.size(); ++i) {
    hs.usable[i] = pool_->backends[i]->state->usable(uv_now(worker().loop())) ? 1 : 0;
  }
  hs.attempts_left = 1 + pool_->config->connect_retries;
  phase_ = Phase::Connecting;
  start_connect();
}

void Session::start_connect() {
  HandshakeState& hs = *handshake_;
  if (hs.attempts_left == 0) {
    reject(502, "every backend connect failed", CloseReason::ConnectFailed);
    return;
  }
  const std::optional<uint32_t> pick = choose_backend();  // the cookie's backend, else the hash's
  if (!pick) {
    if (hs.attempts_made == 0) {
      reject(503, "no backend available", CloseReason::NoBackend);
    } else {
      reject(502, "every backend connect failed", CloseReason::ConnectFailed);
    }
    return;
  }
  if (backend_open_) {
    keep_or_drop_backend(*pick);  // left by a previous plain request: reused, or closed first
    return;
  }
  backend_index_ = *pick;
  --hs.attempts_left;
  ++hs.attempts_made;
  backend_dead_ = false;
  uv_tcp_init(worker().loop(), &backend_);
  backend_open_ = true;
  ++open_handles_;
  const BackendRuntime& backend = *pool_->backends[backend_index_];
  const int rc = uv_tcp_connect(&hs.connect_req, &backend_,
                                reinterpret_cast<const sockaddr*>(&backend.address),
                                SessionCallbacks::connected);
  if (rc != 0) {
    on_connect_failed(rc);
    return;
  }
  if (reads_backend_from_connect()) {
    // Watching for input along with the connect makes one epoll registration (in and out, then
    // in) instead of two and a retry when reading starts after the connect; libuv reports nothing
    // but the connect until it completes.
    uv_read_start(reinterpret_cast<uv_stream_t*>(&backend_), SessionCallbacks::alloc,
                  SessionCallbacks::backend_read);
  }
  arm_timer(TimerPurpose::Connect, runtime_->config->timeouts.connect.count());
}

// An upgrade reads the backend from its connect on (its answer; over TLS, its handshake): tcp mode
// and plain requests decide for themselves when to read it.
bool Session::reads_backend_from_connect() const { return !tcp_mode_ && !exchange_; }

void Session::on_connected(int status) {
  if (phase_ != Phase::Connecting || status == UV_ECANCELED) return;
  if (status < 0) {
    on_connect_failed(status);
    return;
  }
  stop_timer();
  uv_tcp_nodelay(&backend_, 1);
  pool_->backends[backend_index_]->state->active.fetch_add(1, std::memory_order_relaxed);
  counted_on_backend_ = true;
  backend_connected_ = true;
  phase_ = Phase::AwaitingResponse;
  // The PROXY header goes raw, before a ClientHello and the head; an upgrade to a plain backend
  // sends it in one write with the head (below).
  const bool head_follows = !pool_->backend_tls && !tcp_mode_ && !exchange_;
  std::string proxy_header;
  if (pool_->config->send_proxy_protocol != conf::SendProxy::Off) proxy_header = proxy_header_for_backend();
  if (!head_follows) write_to(&backend_, std::exchange(proxy_header, {}));
  if (pool_->backend_tls) {
    // A fresh TLS client per attempt; the head waits inside it until the handshake is done.
    const BackendRuntime& backend = *pool_->backends[backend_index_];
    tls_ends().backend = std::make_unique<tls::TlsSession>(*pool_->backend_tls, backend.config->address.host);
    backend_tls_eof_ = false;
    flush_tls(&backend_);  // the ClientHello
  }
  if (tcp_mode_) {
    // No head to send: the relay starts now, or once the backend's TLS handshake is done.
    if (!backend_tls()) {
      begin_tcp_relay();
      return;
    }
    uv_read_start(reinterpret_cast<uv_stream_t*>(&backend_), SessionCallbacks::alloc,
                  SessionCallbacks::backend_read);
    arm_timer(TimerPurpose::Response, runtime_->config->timeouts.handshake.count());
    return;
  }
  if (exchange_) {
    begin_exchange();  // a plain request: head and body through the flows (http_exchange.cpp)
    return;
  }
  // A copy of the head: a TLS failure retries another backend.
  send_plain(&backend_, proxy_header.empty() ? handshake_->backend_head : proxy_header + handshake_->backend_head);
  // The backend is being read already (reads_backend_from_connect).
  arm_timer(TimerPurpose::Response, runtime_->config->timeouts.handshake.count());
}

void Session::on_connect_failed(int status) {
  HandshakeState& hs = *handshake_;
  stop_timer();
  BackendRuntime& backend = *pool_->backends[backend_index_];
  backend.state->connect_failures.fetch_add(1, std::memory_order_relaxed);
  log::warn("backend connect failed", {{"pool", pool_->config->name},
                                       {"backend", backend.config->name},
                                       {"address", backend.address_text},
                                       {"error", uv_strerror(status)},
                                       {"attempts_left", std::to_string(hs.attempts_left)}});
  health::on_backend_failure(*backend.state, pool_->config->passive, uv_now(worker().loop()), pool_->config->name,
                             backend.config->name, uv_strerror(status));  // passive ejection
  hs.usable[backend_index_] = 0;
  // The next attempt reuses backend_, so it starts from the close callback.
  hs.retry_after_close = true;
  close_backend_handle();
}

void Session::close_backend_handle() {
  if (!backend_open_ || uv_is_closing(reinterpret_cast<uv_handle_t*>(&backend_))) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&backend_), SessionCallbacks::backend_closed);
}

void Session::on_backend_closed() {
  backend_open_ = false;
  if (handshake_ && handshake_->retry_after_close && phase_ == Phase::Connecting) {
    handshake_->retry_after_close = false;
    --open_handles_;
    start_connect();
    return;
  }
  on_handle_closed();
}

void Session::on_backend_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  if (tcp_mode_) {
    on_tcp_backend_read(nread, buf);
    return;
  }
  switch (phase_) {
    case Phase::Relaying:
      on_relay_read(b2c_, nread, buf);
      return;
    case Phase::AwaitingResponse:
    case Phase::ForwardingAnswer:
      on_backend_answer(nread, buf);
      return;
    case Phase::Exchanging:
      on_exchange_backend_read(nread, buf);
      return;
    case Phase::ReadingHead:
      if (backend_open_) on_idle_backend_read(nread);  // kept from the previous plain request
      return;
    default:
      return;  // Lingering or closing: the backend's bytes have nowhere to go
  }
}

void Session::on_backend_answer(ssize_t nread, const uv_buf_t* buf) {
  HandshakeState& hs = *handshake_;
  if (nread < 0) {
    if (phase_ == Phase::ForwardingAnswer && hs.response.finish() == http::ResponseParser::State::MessageDone) {
      finish_answer();
      return;
    }
    if (phase_ == Phase::ForwardingAnswer) {
      close(CloseReason::Rejected);  // the answer was cut short: the client sees it end early
      return;
    }
    reject(502, "backend closed the connection without answering", CloseReason::BadUpstreamResponse);
    return;
  }
  const std::string_view chunk(buf->base, static_cast<size_t>(nread));
  if (phase_ == Phase::AwaitingResponse && hs.response_bytes.empty()) {
    // Passive health: the backend answered (over TLS, its handshake worked), whatever it said.
    health::on_backend_connected(*pool_->backends[backend_index_]->state);
  }
  const http::ResponseParser::State state = hs.response.feed(chunk);
  const size_t consumed = hs.response.consumed();

  if (phase_ == Phase::ForwardingAnswer) {
    send_plain(&client_, std::string(chunk.substr(0, consumed)));
    if (state == http::ResponseParser::State::MessageDone) finish_answer();
    if (state == http::ResponseParser::State::Error) close(CloseReason::BadUpstreamResponse);
    return;
  }

  hs.response_bytes.append(chunk);
  switch (state) {
    case http::ResponseParser::State::NeedMore:
      if (hs.response_bytes.size() > kMaxResponseHead) {
        reject(502, "backend answer head too large", CloseReason::BadUpstreamResponse);
      }
      return;
    case http::ResponseParser::State::Error:
      reject(502, "backend sent an invalid HTTP response", CloseReason::BadUpstreamResponse);
      return;
    case http::ResponseParser::State::Upgraded: {
      const size_t head_end = hs.response_bytes.size() - (chunk.size() - consumed);
      if (hs.response.accept_header() != http::websocket_accept(hs.key)) {
        reject(502, "backend sent a 101 with an invalid Sec-WebSocket-Accept",
               CloseReason::BadUpstreamResponse);
        return;
      }
      begin_relay(head_end);
      return;
    }
    case http::ResponseParser::State::InBody:
    case http::ResponseParser::State::MessageDone: {
      // A non-101 answer: the client gets it exactly as sent, then the connection ends. Pipelined
      // client bytes are never sent to this backend.
      stop_timer();
      phase_ = Phase::ForwardingAnswer;
      reason_ = CloseReason::Rejected;
      status_sent_ = hs.response.status_code();  // the backend's refusal, relayed
      log::info("upgrade rejected by backend",
                {{"backend", pool_->backends[backend_index_]->config->name},
                 {"status", std::to_string(hs.response.status_code())}});
      const size_t end = hs.response_bytes.size() - (chunk.size() - consumed);
      send_plain(&client_, hs.response_bytes.substr(0, end));
      if (state == http::ResponseParser::State::MessageDone) finish_answer();
      return;
    }
  }
}

void Session::finish_answer() {
  close_backend_handle();
  linger_client(CloseReason::Rejected);
}

void Session::reject(int status, std::string_view reason, CloseReason why, std::string_view extra_headers) {
  if (phase_ == Phase::Closed || phase_ == Phase::Lingering) return;
  if (tcp_mode_) {
    refuse_tcp(reason, why);  // no HTTP to answer in: the client is simply closed
    return;
  }
  if (exchange_ && exchange_->response_started) {
    close(why);  // a plain response is under way: no second answer can follow, the end must do
    return;
  }
  status_sent_ = status;
  end_http_request(status);  // a plain request's own line (no-op for an upgrade)
  log::info("request rejected", {{"client", std::string(client_ip())},
                                 {"listener", listener_.name},
                                 {"status", std::to_string(status)},
                                 {"reason", std::string(reason)}});
  close_backend_handle();
  send_plain(&client_, http::error_response(status, reason, extra_headers));
  linger_client(why);
}

// After an answer the write side is shut (the client sees EOF after the answer) and the client's
// remaining input is read and dropped for a moment: closing with unread input would make the kernel
// send RST, which can destroy the answer before the client reads it.
void Session::linger_client(CloseReason why) {
  reason_ = why;
  shutdown_tls(&client_);  // close_notify after the answer (phase is not Relaying: write_to path)
  phase_ = Phase::Lingering;
  auto* req = new uv_shutdown_t;
  req->data = this;
  uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&client_), [](uv_shutdown_t* r, int) { delete r; });
  net::stop_reading(&client_);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&client_), SessionCallbacks::alloc,
                SessionCallbacks::client_read);
  arm_timer(TimerPurpose::Linger, kLingerAfterAnswerMs);
}

void Session::write_to(uv_tcp_t* stream, std::string bytes) {
  if (bytes.empty()) return;
  auto* op = new WriteOp;
  op->bytes = std::move(bytes);
  op->req.data = op;
  uv_buf_t buf = uv_buf_init(op->bytes.data(), static_cast<unsigned>(op->bytes.size()));
  const int rc = uv_write(&op->req, reinterpret_cast<uv_stream_t*>(stream), &buf, 1,
                          [](uv_write_t* req, int) { delete static_cast<WriteOp*>(req->data); });
  if (rc != 0) delete op;
}

void Session::close(CloseReason reason) {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  if (reason_ == CloseReason::None || reason_ == CloseReason::LingerTimeout) reason_ = reason;
  if (counted_on_backend_) {
    pool_->backends[backend_index_]->state->active.fetch_sub(1, std::memory_order_relaxed);
    counted_on_backend_ = false;
  }
  --listener_.active;
  if (counted_per_ip_) worker().release_ip(std::string(client_ip()));
  if (!client_finished_) log_end();  // else written when the client was done (finish_client)
  stop_timer();
  // Nothing of this session is read any more; its sockets close once its line is written.
  net::stop_reading(&client_);
  if (backend_open_) net::stop_reading(&backend_);
  close_sockets_before_poll();
}

void Session::close_sockets_before_poll() {
  if (sockets_to_close_) return;  // queued once: close_sockets() looks at the phase then
  sockets_to_close_ = true;
  worker().close_before_poll(*this);
}

void Session::close_sockets() {
  sockets_to_close_ = false;
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&client_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&client_), SessionCallbacks::handle_closed);
  }
  if (phase_ != Phase::Closed) return;  // finish_client: the backend's end is still awaited
  close_backend_handle();
  if (open_handles_ == 0) finish();  // both were closed already (a reset): their callbacks waited
}

// The access-log line and the end-of-connection metrics (proxy/access_log.h).
void Session::log_end() {
  if (exchange_) end_http_request(exchange_->status);  // a plain request cut short
  const BackendRuntime* backend = backend_connected_ ? pool_->backends[backend_index_].get() : nullptr;
  access::ConnectionRecord r;
  r.client = client_ip();
  r.listener = listener_.name;
  r.tcp = tcp_mode_;
  r.pool = pool_ != nullptr ? std::string_view(pool_->config->name) : std::string_view();
  r.backend = backend != nullptr ? std::string_view(backend->config->name) : std::string_view();
  // ringway_upgrades_total counts upgrades only: not a plain request's answer.
  r.backend_state = backend != nullptr && !exchange_ ? backend->state.get() : nullptr;
  r.path = target();
  r.status = status_sent_;
  r.reason = reason_;
  r.marks = marks_;
  r.ended_ns = uv_hrtime();
  r.bytes = {c2b_.bytes, b2c_.bytes};
  r.messages = {c2b_.tracker.messages(), b2c_.tracker.messages()};
  r.client_sent_close = c2b_.observer.saw_close();
  r.backend_sent_close = b2c_.observer.saw_close();
  r.client_close_code = c2b_.observer.close_code();
  r.backend_close_code = b2c_.observer.close_code();
  r.client_closed_first = c2b_.closed_first;
  r.backend_closed_first = b2c_.closed_first;
  r.ringway_code_to_client = b2c_.observer.ringway_code();
  r.ringway_code_to_backend = c2b_.observer.ringway_code();
  access::connection_ended(worker().metrics(), r);
}

void Session::on_handle_closed() {
  if (--open_handles_ > 0 || sockets_to_close_) return;  // the worker still calls close_sockets()
  finish();
}

void Session::finish() {
  worker().session_finished(*this);
  delete this;
}

}  // namespace ringway
