// Plain HTTP/1.1 through an http-mode listener (Socket.IO and SockJS start with long-polling): the
// same routes and hashing as upgrades, one request at a time per client connection.
//
// - The request head is checked by parse_request_head like an upgrade's; its hop-by-hop fields are
//   replaced by ringway's own Connection, X-Forwarded-For/-Proto are set (build_backend_head).
// - Bodies stream through the relay's flows (c2b_, b2c_): sent at once (try_send), the rest copied,
//   and the source not read until it is written (backpressure: memory bounded by one read). A
//   MessageFramer per direction finds where each message ends, chunked or not; the bytes go on
//   unchanged.
// - Pipelining: the next request is not parsed until the response to this one has been written;
//   bytes that arrived after this request wait in `leftover`, and the rest in the kernel.
// - Keep-alive: the client connection stays open when both the request and the response allow it;
//   the backend connection is kept for the next request if that one hashes to the same backend.
//   An idle keep-alive client is closed after timeouts.handshake (no 408: it asked for nothing).
// - 504 when the response head has not arrived timeouts.response after the whole request went;
//   408 when the client sends no byte of its body for timeouts.handshake.
#include <algorithm>

#include "health/hooks.h"
#include "proxy/access_log.h"
#include "proxy/edge_poll.h"
#include "proxy/handshake_state.h"
#include "proxy/http/affinity_cookie.h"
#include "proxy/http/hop_by_hop.h"
#include "proxy/http_exchange.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/session_callbacks.h"
#include "proxy/tls/tls_session.h"
#include "proxy/worker.h"

namespace ringway {
namespace {

uv_stream_t* stream(uv_tcp_t* tcp) { return reinterpret_cast<uv_stream_t*>(tcp); }

std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

using Event = http::MessageFramer::Event;

}  // namespace

// The backend for the current request: consistent hashing of its key over the usable backends.
// Upgrades, plain requests and tcp connections all pick here; a valid affinity cookie wins.
std::optional<uint32_t> Session::choose_backend() {
  const HandshakeState& hs = *handshake_;
  if (std::optional<uint32_t> cookie = affinity_pick()) return cookie;  // the affinity cookie's, if usable
  const lb::LiveView live{hs.usable, pool_->active, pool_->config->balance_factor};
  return pool_->table.pick(hs.key_hash, live);
}

// Every response head the client gets from a backend passes here (plain responses and 101s), so
// that per-request headers (HandshakeState::extra_response_headers) are added in one place.
// `connection` empty keeps the head's own fields (a 101); else hop-by-hop fields are replaced.
std::string Session::response_head_for_client(std::string_view raw_head, std::string_view connection) {
  const std::string_view extra = handshake_ ? std::string_view(handshake_->extra_response_headers) : std::string_view();
  if (connection.empty() && extra.empty()) return std::string(raw_head);  // byte for byte
  // A 101 keeps its bytes too, the extra lines going before its blank line (after any interim 1xx
  // head that preceded it in raw_head).
  if (connection.empty()) return http::insert_header_lines(raw_head, extra);
  return http::client_response_head(raw_head, connection, extra);
}

void Session::handle_plain_head() {
  HandshakeState& hs = *handshake_;
  const http::RequestHead& head = hs.parse.head;
  if (head.method == "CONNECT") {
    reject(405, "CONNECT is not supported", CloseReason::BadRequest);
    return;
  }
  exchange_ = std::make_unique<HttpExchange>();
  HttpExchange& ex = *exchange_;
  ex.started_ns = uv_hrtime();
  ex.method.assign(head.method);
  ex.request.set_max_head_size(head.raw.size());  // already limited by limits.max_header_size
  ex.response.set_head_request(head.method == "HEAD");
  // The framer reads the head again for the body's framing (Content-Length, chunked, both: an
  // error); a request without a body ends right at its head.
  http::MessageFramer::Step step = ex.request.feed(head.raw);
  if (step.event == Event::HeadDone && step.consumed == head.raw.size()) step = ex.request.feed({});
  if (step.event == Event::Error || step.event == Event::HeadDone) {
    reject(400, ex.request.error_reason(), CloseReason::BadRequest);
    return;
  }
  ex.request_done = step.event == Event::MessageDone;
  ex.client_keep_alive = ex.request.keep_alive();
  uint64_t key_hash = 0;
  if (!route_request(head, key_hash)) return;
  const bool keep = ex.client_keep_alive && !going_away_;
  hs.backend_head = http::build_backend_head(head, client_ip(), client_tls() ? "https" : "http",
                                             keep ? "keep-alive" : "close");
  begin_connecting(key_hash);  // start_connect reuses the previous request's backend if it can
}

// start_connect found backend_ still open (left by the previous plain request): reuse it when it
// is idle, allowed keep-alive and is the one picked now; otherwise close it and connect afresh from
// its close callback.
void Session::keep_or_drop_backend(uint32_t pick) {
  if (exchange_ && backend_reusable_ && pick == backend_index_ &&
      !uv_is_closing(reinterpret_cast<uv_handle_t*>(&backend_))) {
    begin_exchange();
    return;
  }
  release_backend();
  handshake_->retry_after_close = true;
  close_backend_handle();
}

// The backend connection is no longer this session's: counts released, nothing more written to it.
void Session::release_backend() {
  if (counted_on_backend_) {
    pool_->backends[backend_index_]->state->active.fetch_sub(1, std::memory_order_relaxed);
    counted_on_backend_ = false;
  }
  backend_connected_ = false;
  backend_reusable_ = false;
  backend_dead_ = true;  // until the next connect
  if (tls_) tls_->backend.reset();
  backend_tls_eof_ = false;
}

void Session::begin_exchange() {
  HandshakeState& hs = *handshake_;
  HttpExchange& ex = *exchange_;
  phase_ = Phase::Exchanging;
  ex.sent = true;
  backend_reusable_ = false;  // busy
  stop_timer();
  const std::string head = std::move(hs.backend_head);
  // Bytes the client sent after its head: the body's start, perhaps pipelined requests.
  const std::string after = hs.head.substr(hs.parse.head.head_length);
  uv_read_start(stream(&backend_), SessionCallbacks::alloc, SessionCallbacks::backend_read);
  if (!write_through(c2b_, as_bytes(head))) return;
  if (ex.request_done) {
    ex.leftover.append(after);
    arm_timer(TimerPurpose::Response, runtime_->config->timeouts.response.count());
    return;
  }
  forward_request_body(after);
  if (phase_ == Phase::Exchanging && !exchange_->request_done && !c2b_.writing) {
    uv_read_start(stream(&client_), SessionCallbacks::alloc, SessionCallbacks::client_read);
  }
}

void Session::forward_request_body(std::string_view bytes) {
  HttpExchange& ex = *exchange_;
  while (!ex.request_done && !bytes.empty()) {
    const http::MessageFramer::Step step = ex.request.feed(bytes);
    if (step.event == Event::Error) {
      log::info("bad request body", {{"client", std::string(client_ip())}, {"error", ex.request.error_reason()}});
      if (ex.response_started) {
        close(CloseReason::BadRequest);
      } else {
        reject(400, ex.request.error_reason(), CloseReason::BadRequest);
      }
      return;
    }
    ex.bytes_in += step.consumed;
    if (!write_through(c2b_, as_bytes(bytes.substr(0, step.consumed)))) return;
    bytes.remove_prefix(step.consumed);
    if (step.event == Event::MessageDone) ex.request_done = true;
    if (step.consumed == 0 && step.event != Event::MessageDone) break;  // never spin without progress
  }
  if (!ex.request_done) {
    // A client that stops sending in the middle of its body: 408 after timeouts.handshake without
    // a byte (re-armed at every read: an idle limit, so a long upload at any pace is fine).
    if (!ex.response_started) arm_timer(TimerPurpose::Handshake, runtime_->config->timeouts.handshake.count());
    return;
  }
  ex.leftover.append(bytes);
  net::stop_reading(&client_);  // the next request waits until this response is written
  if (!ex.response_started) arm_timer(TimerPurpose::Response, runtime_->config->timeouts.response.count());
}

void Session::on_exchange_client_read(ssize_t nread, const uv_buf_t* buf) {
  HttpExchange& ex = *exchange_;
  if (nread < 0) {
    if (!ex.request_done) {
      close(nread == UV_EOF ? CloseReason::ClientClosed : CloseReason::ClientError);  // request cut short
      return;
    }
    ex.close_after = true;  // a half-close after the request (TLS close_notify): answer, then end
    return;
  }
  const std::string_view bytes(buf->base, static_cast<size_t>(nread));
  if (ex.request_done) {
    ex.leftover.append(bytes);  // TLS records decrypted after the request ended: the next one
    return;
  }
  forward_request_body(bytes);
}

void Session::on_exchange_backend_read(ssize_t nread, const uv_buf_t* buf) {
  HttpExchange& ex = *exchange_;
  if (nread < 0) {
    on_exchange_backend_end(static_cast<int>(nread));
    return;
  }
  if (!ex.response_started && ex.response_head.empty() && ex.response.at_message_start()) {
    // Passive health: the backend answered (over TLS, its handshake worked), whatever it said.
    health::on_backend_connected(*pool_->backends[backend_index_]->state);
  }
  forward_response(std::string_view(buf->base, static_cast<size_t>(nread)));
}

void Session::forward_response(std::string_view bytes) {
  bool again = !bytes.empty();  // after a head, feed once more (a message without body ends there)
  while (again && phase_ == Phase::Exchanging) {
    HttpExchange& ex = *exchange_;
    if (ex.response_done) {
      ex.stray_bytes = true;  // more than the response: this connection is out of step
      backend_reusable_ = false;
      return;
    }
    const http::MessageFramer::Step step = ex.response.feed(bytes);
    const std::string_view part = bytes.substr(0, step.consumed);
    bytes.remove_prefix(step.consumed);
    again = !bytes.empty();
    switch (step.event) {
      case Event::Error:
        log::warn("invalid response from backend", {{"backend", pool_->backends[backend_index_]->config->name},
                                                     {"error", ex.response.error_reason()}});
        if (ex.response_started) {
          close(CloseReason::BadUpstreamResponse);
        } else {
          reject(502, "backend sent an invalid HTTP response", CloseReason::BadUpstreamResponse);
        }
        return;
      case Event::HeadDone:
        ex.response_head.append(part);
        if (!on_response_head()) return;
        again = true;
        break;
      case Event::NeedMore:
      case Event::MessageDone:
        if (!ex.response.in_body() && step.event == Event::NeedMore) {
          ex.response_head.append(part);  // the head so far (its size is bounded by the framer)
          break;
        }
        ex.bytes_out += part.size();
        if (!write_through(b2c_, as_bytes(part))) return;
        if (step.event == Event::MessageDone && !ex.response.interim()) {
          ex.stray_bytes = !bytes.empty();
          finish_exchange();
          return;
        }
        break;
    }
  }
}

// A complete head from the backend: an interim 1xx (100 Continue...) goes on as sent and the final
// answer follows; the final one goes with ringway's own Connection. False when the session ends.
bool Session::on_response_head() {
  HttpExchange& ex = *exchange_;
  const int status = ex.response.status_code();
  if (status == 101) {
    reject(502, "backend switched protocols on a plain request", CloseReason::BadUpstreamResponse);
    return false;
  }
  std::string head;
  if (ex.response.interim()) {
    head.swap(ex.response_head);
    // RFC 9110 15.2: no 1xx to an HTTP/1.0 client, which would take it for the answer.
    if (ex.request.http_major() == 1 && ex.request.http_minor() == 0) return true;
  } else {
    stop_timer();  // the response (504) or the request body's idle limit (408): answered
    ex.status = status;
    status_sent_ = status;
    ex.response_started = true;
    ex.backend_keep_alive = ex.response.keep_alive();
    if (!ex.client_keep_alive || !ex.backend_keep_alive || going_away_) ex.close_after = true;
    handshake_->extra_response_headers += affinity_header_lines();  // Set-Cookie when one is due
    head = response_head_for_client(ex.response_head, ex.close_after ? "close" : "keep-alive");
    std::string().swap(ex.response_head);
  }
  ex.bytes_out += head.size();
  return write_through(b2c_, as_bytes(head));
}

// The backend ended its side (or failed) during the exchange.
void Session::on_exchange_backend_end(int status) {
  HttpExchange& ex = *exchange_;
  if (ex.response_done) {  // after a complete response, while it is being written: not reusable
    net::stop_reading(&backend_);
    backend_reusable_ = false;
    ex.backend_keep_alive = false;
    return;
  }
  net::stop_reading(&backend_);
  if (ex.response.in_body() && ex.response.finish()) {
    ex.close_after = true;  // a response without length ends at EOF, and so does the connection
    ex.backend_keep_alive = false;
    finish_exchange();
    return;
  }
  if (ex.response_started) {
    log::warn("backend closed mid-response", {{"backend", pool_->backends[backend_index_]->config->name},
                                              {"client", std::string(client_ip())},
                                              {"error", status == UV_EOF ? "eof" : uv_strerror(status)}});
    close(CloseReason::BackendClosed);  // the client sees its response end early
    return;
  }
  reject(502, "backend closed the connection without answering", CloseReason::BadUpstreamResponse);
}

void Session::finish_exchange() {
  HttpExchange& ex = *exchange_;
  ex.response_done = true;
  end_http_request(ex.status);
  if (!ex.request_done) ex.close_after = true;  // answered before the request ended (e.g. 413)
  const bool reusable = ex.backend_keep_alive && ex.request_done && !ex.stray_bytes && !c2b_.writing &&
                        !backend_dead_ && !ex.close_after;
  if (reusable) {
    backend_reusable_ = true;  // kept for the next request, and read meanwhile to notice its end
  } else {
    release_backend();
    close_backend_handle();
  }
  if (b2c_.writing) {
    ex.flushing = true;  // complete_exchange once the client has taken the response
    return;
  }
  complete_exchange();
}

// The response has been written: end the connection, or read the next request.
void Session::complete_exchange() {
  HttpExchange& ex = *exchange_;
  if (ex.close_after) {
    linger_client(ex.client_keep_alive ? CloseReason::BackendClosed : CloseReason::ClientClosed);
    return;
  }
  ++http_requests_;
  std::string leftover = std::move(ex.leftover);
  exchange_.reset();
  // Fresh per-request state: an idle keep-alive connection keeps no buffer but pipelined bytes.
  auto next = std::make_unique<HandshakeState>();
  next->client_address = handshake_->client_address;
  handshake_ = std::move(next);
  handshake_->head = std::move(leftover);
  phase_ = Phase::ReadingHead;
  arm_timer(TimerPurpose::Handshake, runtime_->config->timeouts.handshake.count());  // keep-alive idle
  uv_read_start(stream(&client_), SessionCallbacks::alloc, SessionCallbacks::client_read);
  if (backend_reusable_) {  // read while idle, so that its end is noticed before the next request
    uv_read_start(stream(&backend_), SessionCallbacks::alloc, SessionCallbacks::backend_read);
  }
  const std::string& head = handshake_->head;
  if (head.find("\r\n\r\n") != std::string::npos || head.size() > runtime_->config->limits.max_header_size) {
    handle_head();
  }
}

// A write completed on a flow and nothing is pending on it (relay.cpp's on_flow_written).
void Session::on_exchange_written(Flow& flow) {
  HttpExchange& ex = *exchange_;
  if (&flow == &c2b_) {
    if (!ex.request_done) uv_read_start(stream(&client_), SessionCallbacks::alloc, SessionCallbacks::client_read);
    return;
  }
  if (ex.flushing) {
    complete_exchange();
    return;
  }
  if (!ex.response_done) uv_read_start(stream(&backend_), SessionCallbacks::alloc, SessionCallbacks::backend_read);
}

void Session::on_exchange_write_failed(Flow& flow) {
  if (to(flow) == &client_) {
    close(CloseReason::ClientError);
    return;
  }
  // The backend takes no more bytes; its answer, if any, is still read (an early 413, or EOF: 502).
  backend_dead_ = true;
}

// Between requests, the kept backend connection said something (its end, an error, stray bytes):
// it cannot carry the next request.
void Session::on_idle_backend_read(ssize_t nread) {
  (void)nread;
  release_backend();
  close_backend_handle();
}

// Shutdown or drain: the request in flight gets its response with Connection: close (when its head
// has not gone yet) and the connection ends after it; an idle keep-alive connection ends now.
void Session::http_go_away() {
  if (exchange_) {
    exchange_->close_after = true;
    return;
  }
  if (phase_ == Phase::ReadingHead && http_requests_ > 0 && handshake_ && handshake_->head.empty()) {
    close(CloseReason::Shutdown);
  }
}

// The access-log line and the metrics of one plain request (once, whatever ended it).
void Session::end_http_request(int status) {
  if (!exchange_ || exchange_->logged) return;
  HttpExchange& ex = *exchange_;
  ex.logged = true;
  const BackendRuntime* backend = ex.sent ? pool_->backends[backend_index_].get() : nullptr;
  access::HttpRequestRecord r;
  r.client = client_ip();
  r.listener = listener_.name;
  r.pool = pool_ != nullptr ? std::string_view(pool_->config->name) : std::string_view();
  r.backend = backend != nullptr ? std::string_view(backend->config->name) : std::string_view();
  r.backend_state = backend != nullptr ? backend->state.get() : nullptr;
  r.method = ex.method;
  r.path = target();
  r.status = status;
  r.bytes_in = ex.bytes_in;
  r.bytes_out = ex.bytes_out;
  r.started_ns = ex.started_ns;
  r.ended_ns = uv_hrtime();
  access::http_request_done(worker().metrics(), r);
}

}  // namespace ringway
