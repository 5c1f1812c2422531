// TLS on a session's sockets: ciphertext read from a socket is decrypted into the worker's second
// slab and handed to the same code that handles plain bytes; plaintext written toward a TLS peer is
// encrypted and goes out through the same raw path (send at once, then a pending copy with
// backpressure). So the handshake logic, the relay, frame tracking and limits are one code path for
// ws:// and wss://, and for plain and TLS backends.
#include "proxy/edge_poll.h"
#include "proxy/handshake_state.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/socket_io.h"
#include "proxy/worker.h"
#include "proxy/tls/tls_session.h"

namespace ringway {

Session::TlsEnds::TlsEnds() = default;
Session::TlsEnds::~TlsEnds() = default;

tls::TlsSession* Session::tls_of(const uv_tcp_t* stream) const {
  return stream == &client_ ? client_tls() : backend_tls();
}

void Session::deliver(uv_tcp_t* stream, ssize_t nread, const uv_buf_t* buf) {
  if (stream == &client_) {
    on_client_read(nread, buf);
  } else {
    on_backend_read(nread, buf);
  }
}

// Every read lands in the worker's slab; what is not written on at once is copied (relay.cpp). One
// recv per readiness event: libuv's epoll is level-triggered, so bytes left in the socket bring the
// loop back; an edge-triggered socket is one whose reads empty it (tune_polling). The end (EOF or an
// error) stops reading before it is delivered, as libuv's own read does, so that it is delivered
// once.
void Session::read_socket(uv_tcp_t* stream) {
  Worker& w = worker();
  w.count_read();  // wakeup coalescing (proxy/worker_loop.h)
  const std::span<uint8_t> slab = w.read_slab();
  const ssize_t nread = net::recv_once(reinterpret_cast<uv_stream_t*>(stream), slab);
  if (nread == UV_EAGAIN) return;  // another read took it already
  if (nread < 0) net::stop_reading(stream);
  const auto length = nread > 0 ? static_cast<unsigned>(nread) : 0U;
  const uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(slab.data()), length);
  on_read(stream, nread, &buf);
  if (nread > 0 && phase_ == Phase::Relaying) tune_polling(stream, length == slab.size());
}

// Edge triggering pays off on a connection that keeps exchanging messages (each report saves epoll a
// second poll of the socket) and costs one epoll_ctl to enter: it starts after kEdgeAfterReads
// short reads in a row. A full read may leave bytes behind, which an edge-triggered socket would not
// report again: back to level triggering, for good once that has happened kMaxLevelReturns times (a
// stream that keeps filling the slab gains nothing from edges).
void Session::tune_polling(uv_tcp_t* stream, bool filled_slab) {
  constexpr uint8_t kEdgeAfterReads = 16;
  constexpr uint8_t kMaxLevelReturns = 7;
  Flow& flow = stream == &client_ ? c2b_ : b2c_;
  if (filled_slab) {
    flow.short_reads = 0;
    if (!net::edge_triggered(stream)) return;
    net::poll_level_triggered(stream);
    if (flow.level_returns < kMaxLevelReturns) ++flow.level_returns;
    return;
  }
  if (flow.eof || flow.level_returns == kMaxLevelReturns || net::edge_triggered(stream)) return;
  if (++flow.short_reads < kEdgeAfterReads) return;
  flow.short_reads = 0;
  // Not while libuv also waits to write the socket: tried again after the next kEdgeAfterReads.
  if (net::poll_edge_triggered(stream)) worker().metrics().edge_triggered.add(1);
}

void Session::on_read(uv_tcp_t* stream, ssize_t nread, const uv_buf_t* buf) {
  if (phase_ == Phase::ReadingProxyHeader && stream == &client_) {
    on_proxy_header_read(nread, buf);  // before TLS: a balancer's header is never encrypted
    return;
  }
  tls::TlsSession* tls = tls_of(stream);
  if (tls == nullptr || nread <= 0) {
    deliver(stream, nread, buf);
    return;
  }
  tls->feed_ciphertext(std::span(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)));
  // Everything decrypted now is handled before the slab is read into again.
  const std::span<uint8_t> scratch = worker().plaintext_slab();
  while (phase_ != Phase::Closed) {
    const size_t n = tls->read_plaintext(scratch);
    if (n == 0) break;
    const uv_buf_t plain = uv_buf_init(reinterpret_cast<char*>(scratch.data()), static_cast<unsigned>(n));
    deliver(stream, static_cast<ssize_t>(n), &plain);
  }
  if (phase_ == Phase::Closed) return;
  flush_tls(stream);  // handshake replies, session tickets, alerts
  if (tls->state() == tls::TlsState::Failed) {
    on_tls_failure(stream);
  } else if (tls->state() == tls::TlsState::PeerClosed) {
    const bool from_client = stream == &client_;
    if (!(from_client ? client_tls_eof_ : backend_tls_eof_)) {
      // close_notify: the peer's side ended, as with a TCP EOF (noted once)
      (from_client ? client_tls_eof_ : backend_tls_eof_) = true;
      deliver(stream, UV_EOF, nullptr);
    }
  }
  // mode: tcp waits for a finished handshake (not for bytes) before it connects or relays.
  if (tcp_mode_ && phase_ != Phase::Closed && phase_ != Phase::Relaying) after_tls_read(stream);
}

void Session::flush_tls(uv_tcp_t* stream) {
  tls::TlsSession* tls = tls_of(stream);
  if (tls == nullptr || phase_ == Phase::Closed) return;
  const std::span<const uint8_t> ciphertext = tls->pending_ciphertext();
  if (ciphertext.empty()) return;
  if (phase_ == Phase::Relaying || phase_ == Phase::Exchanging) {
    write_raw(stream == &client_ ? b2c_ : c2b_, ciphertext);  // ordered with the relayed bytes
  } else {
    write_to(stream, std::string(ciphertext.begin(), ciphertext.end()));
  }
  tls->consume_ciphertext(ciphertext.size());
}

void Session::send_plain(uv_tcp_t* stream, std::string bytes) {
  tls::TlsSession* tls = tls_of(stream);
  if (tls == nullptr) {
    write_to(stream, std::move(bytes));
    return;
  }
  if (tls->write_plaintext(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()))) {
    flush_tls(stream);
  }
}

void Session::shutdown_tls(uv_tcp_t* stream) {
  tls::TlsSession* tls = tls_of(stream);
  if (tls == nullptr || !tls->handshake_done()) return;
  tls->shutdown();  // close_notify, once
  flush_tls(stream);
}

void Session::on_tls_failure(uv_tcp_t* stream) {
  tls::TlsSession& tls = *tls_of(stream);
  if (stream == &client_) {
    log::warn("tls handshake failed", {{"client", std::string(client_ip())},
                                       {"listener", listener_.name},
                                       {"error", std::string(tls.error())}});
    close(CloseReason::Tls);
    return;
  }
  log::warn("backend tls failed", {{"pool", pool_->config->name},
                                   {"backend", pool_->backends[backend_index_]->config->name},
                                   {"error", std::string(tls.error())}});
  if (phase_ == Phase::Relaying) {
    on_flow_ended(b2c_, UV_EPROTO);
  } else if (phase_ == Phase::AwaitingResponse && handshake_ && handshake_->response_bytes.empty()) {
    // Nothing reached the backend's application yet: like a refused connect, this backend counts
    // a failure (passive ejection) and the next candidate is tried.
    pool_->backends[backend_index_]->state->active.fetch_sub(1, std::memory_order_relaxed);
    counted_on_backend_ = false;
    backend_connected_ = false;
    if (tls_) tls_->backend.reset();
    phase_ = Phase::Connecting;
    on_connect_failed(UV_EPROTO);
  } else {
    reject(502, "TLS to the backend failed", CloseReason::BackendTls);
  }
}

}  // namespace ringway
