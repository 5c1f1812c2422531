// The relay half of a session: after the backend's 101, bytes flow both ways through a frame
// tracker per direction. Payloads pass untouched; ringway only needs the frame boundaries, to count
// messages, enforce limits and insert its own Close frames without corrupting either stream.
//
// Data path rules: reads land in the worker's slab; try_send sends them on at once; only what
// the kernel did not take is copied (into Flow::pending), and reading from the source stops until
// it is written (backpressure). No allocation while bytes flow freely.
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "proxy/client_policy.h"
#include "proxy/tls/tls_session.h"
#include "health/hooks.h"
#include "proxy/edge_poll.h"
#include "proxy/handshake_state.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/session_callbacks.h"
#include "proxy/socket_io.h"
#include "proxy/worker.h"
#include "proxy/ws/extensions.h"

namespace ringway {
namespace {

uv_stream_t* stream(uv_tcp_t* tcp) { return reinterpret_cast<uv_stream_t*>(tcp); }

}  // namespace

ws::FrameError Session::FlowSink::admit_frame(const ws::FrameHeader& header) {
  if (&flow != &session.c2b_ || !session.policy_) return ws::FrameError::None;
  return session.admit_client_frame(header);
}

void Session::FlowSink::on_frame_header(const ws::FrameHeader& header) {
  flow.observer.on_frame_header(header);  // metrics: message sizes, Close codes
  if (session.policy_ && &flow == &session.c2b_) session.policy_->on_client_header(header);
}

void Session::FlowSink::on_frame_payload(const ws::FrameHeader& header, std::span<const uint8_t> bytes,
                                         uint64_t offset) {
  flow.observer.on_frame_payload(header, bytes, offset);  // a Close frame's code
}

void Session::FlowSink::on_frame_end(const ws::FrameHeader& header, bool message_end) {
  // Metrics: messages, sizes, Close codes.
  flow.observer.on_frame_end(session.worker().metrics(), header, message_end, flow.tracker.message_size());
  if (session.policy_ && &flow == &session.c2b_) session.policy_->on_client_frame_end();
  if (header.opcode != static_cast<uint8_t>(ws::Opcode::Close) || flow.saw_close) return;
  flow.saw_close = true;
  const Flow& other = session.peer(flow);
  flow.closed_first = !other.saw_close && !other.close_sent;
}

void Session::begin_relay(size_t response_head_end) {
  HandshakeState& hs = *handshake_;
  stop_timer();
  phase_ = Phase::Relaying;
  status_sent_ = 101;
  metrics::note_upgrade(marks_, *pool_->backends[backend_index_]->state, uv_hrtime());
  const std::string response(hs.response_bytes);
  const std::string pipelined = hs.head.substr(hs.parse.head.head_length);
  // ringway passes extensions through untouched; the RSV bits they use stop being errors.
  const uint8_t rsv = ws::rsv_bits_for_extensions(hs.response.extensions_header());
  c2b_.tracker.allow_rsv(rsv);
  b2c_.tracker.allow_rsv(rsv);
  // The backend's 101 goes on unchanged, but for the affinity cookie's Set-Cookie when one is due.
  hs.extra_response_headers += affinity_header_lines();
  const std::string head = response_head_for_client(std::string_view(response).substr(0, response_head_end), {});
  // The client was read during the upgrade (Session::hold_client_bytes) unless it ended or held
  // too much: its end is delivered below, after what it sent before it.
  const int client_end = hs.client_end;
  const bool client_reading = hs.client_reading;
  handshake_.reset();  // an established WebSocket keeps no handshake buffers

  const auto* bytes = reinterpret_cast<const uint8_t*>(response.data());
  if (!client_reading && client_end == 0) {
    uv_read_start(stream(&client_), SessionCallbacks::alloc, SessionCallbacks::client_read);
  }
  // The backend is already being read (its answer came that way).
  if (!write_through(b2c_, std::span(reinterpret_cast<const uint8_t*>(head.data()), head.size()))) return;
  relay_bytes(b2c_, std::span(bytes + response_head_end, response.size() - response_head_end));
  if (phase_ != Phase::Relaying) return;
  relay_bytes(c2b_, std::span(reinterpret_cast<const uint8_t*>(pipelined.data()), pipelined.size()));
  if (phase_ != Phase::Relaying) return;
  start_policy();
  if (going_away_) go_away();
  if (client_end != 0 && phase_ == Phase::Relaying) on_client_read(client_end, nullptr);
}

void Session::on_relay_read(Flow& flow, ssize_t nread, const uv_buf_t* buf) {
  if (nread < 0) {
    on_flow_ended(flow, static_cast<int>(nread));
    return;
  }
  const std::span bytes(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread));
  if (policy_) {
    policy_->note_read(&flow == &c2b_, uv_now(worker().loop()));
    if (&flow == &c2b_ && policy_->awaiting_pong) {
      relay_watching_pong(bytes);
      return;
    }
  }
  relay_bytes(flow, bytes);
}

void Session::relay_bytes(Flow& flow, std::span<const uint8_t> bytes) {
  if (flow.raw) {
    relay_raw(flow, bytes);  // mode: tcp, no frames (tcp_session.cpp)
    return;
  }
  while (!bytes.empty() && phase_ == Phase::Relaying) {
    if (flow.violated) return;  // a broken stream: nothing more from it is looked at
    size_t take = bytes.size();
    if (flow.insert_size != 0 && !flow.tracker.at_frame_boundary()) {
      // A frame of ours waits: pass on exactly the rest of the current frame, then insert it.
      const uint64_t left = flow.tracker.payload_remaining();  // 0 while inside a header
      take = left == 0 ? 1 : static_cast<size_t>(std::min<uint64_t>(left, take));
    }
    const std::span<const uint8_t> chunk = bytes.first(take);
    FlowSink sink(*this, flow);
    const ws::FeedResult result = flow.tracker.feed(chunk, sink);
    flow.bytes += result.consumed;
    flow.observer.add_bytes(worker().metrics(), result.consumed);
    if (!flow.discard && result.consumed != 0) {
      // The backend's Close that ends the client's handshake: finish_client closes the socket
      // before the loop polls again (maybe_finish below), unless more bytes or an error follow.
      const bool last = &flow == &b2c_ && take == bytes.size() && result.error == ws::FrameError::None &&
                        !client_finished_ && client_handshake_over();
      if (!write_through(flow, chunk.first(result.consumed), last ? WriteEnd::FinFollows : WriteEnd::Push)) {
        return;
      }
    }
    if (result.error != ws::FrameError::None) {
      // Part of the bad frame's header already went on: that stream cannot carry a Close any more.
      if (result.header_bytes_before > 0) flow.insert_impossible = true;
      on_protocol_violation(flow, result.error);
      return;
    }
    bytes = bytes.subspan(take);
    if (flow.insert_size != 0 && flow.tracker.at_frame_boundary()) emit_insert(flow);
  }
  if (phase_ == Phase::Relaying) maybe_finish();
}

// Sends bytes on to to(flow): at once if the kernel takes them, else keeps the rest and stops
// reading from(flow) until they are written. Returns false when the session is ending.
bool Session::write_through(Flow& flow, std::span<const uint8_t> bytes, WriteEnd end) {
  tls::TlsSession* tls = tls_of(to(flow));
  if (tls == nullptr) return write_raw(flow, bytes, end);
  if (bytes.empty()) return true;
  if (!tls->write_plaintext(bytes)) return true;  // failed or shut down: nothing can be sent
  const std::span<const uint8_t> ciphertext = tls->pending_ciphertext();
  const bool ok = write_raw(flow, ciphertext);
  tls->consume_ciphertext(ciphertext.size());  // write_raw sent or copied all of it
  return ok;
}

bool Session::write_raw(Flow& flow, std::span<const uint8_t> bytes, WriteEnd end) {
  if (bytes.empty()) return true;
  if (to(flow) == &backend_ && backend_dead_) return true;  // nowhere to go; dropped
  if (flow.writing) {
    flow.out->backlog.insert(flow.out->backlog.end(), bytes.begin(), bytes.end());
    return true;
  }
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                             static_cast<unsigned>(bytes.size()));
  // FinFollows: with MSG_MORE the kernel holds the bytes, and the close that follows in this loop
  // iteration (finish_client) puts its FIN on their segment, as HAProxy's MSG_MORE + shutdown does.
  // A backend not known to be connected gets its bytes queued by libuv until it is: a send on a
  // socket still connecting would take the connect's error, which libuv's check of it needs.
  const bool connecting = to(flow) == &backend_ && !backend_connected_;
  int written = connecting ? UV_EAGAIN
                           : net::try_send(stream(to(flow)), buf, end == WriteEnd::FinFollows ? MSG_MORE : 0);
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) {
    on_write_failed(flow);
    return phase_ == Phase::Relaying || phase_ == Phase::Exchanging;
  }
  if (static_cast<size_t>(written) == bytes.size()) return true;
  if (!flow.out) flow.out = std::make_unique<PendingWrite>();
  flow.out->bytes.assign(bytes.begin() + written, bytes.end());
  flow.writing = true;
  flow.out->req.data = this;
  uv_buf_t rest = uv_buf_init(reinterpret_cast<char*>(flow.out->bytes.data()),
                              static_cast<unsigned>(flow.out->bytes.size()));
  const int rc = uv_write(&flow.out->req, stream(to(flow)), &rest, 1,
                          &flow == &c2b_ ? SessionCallbacks::c2b_written : SessionCallbacks::b2c_written);
  if (rc != 0) {
    flow.writing = false;
    on_write_failed(flow);
    return phase_ == Phase::Relaying || phase_ == Phase::Exchanging;
  }
  if (!flow.eof) net::stop_reading(from(flow));  // backpressure: wait for the peer
  return true;
}

void Session::on_flow_written(Flow& flow, int status) {
  flow.writing = false;
  // UV_ECANCELED while closing, or already ending (plain HTTP uses the flows too: http_exchange.cpp)
  if (phase_ != Phase::Relaying && phase_ != Phase::Exchanging) return;
  if (status < 0) {
    on_write_failed(flow);
    return;
  }
  if (!flow.out->backlog.empty()) {
    // Queued while writing (ringway's own frames, TLS records, the 101 head): the same way out.
    // The request is reused from inside its own callback, which libuv allows.
    std::vector<uint8_t> queued;
    queued.swap(flow.out->backlog);
    if (!write_raw(flow, queued)) return;  // the backlog holds bytes as they go on the wire
    if (flow.writing) return;
  }
  flow.out.reset();  // release: no buffer and no request while idle
  if (phase_ == Phase::Exchanging) {
    on_exchange_written(flow);  // it knows which side may be read again
    return;
  }
  resume_reading(flow);
  if (flow.shutdown_wanted) shutdown_write(flow);
  maybe_finish();
}

void Session::resume_reading(Flow& flow) {
  if (flow.eof || flow.writing) return;
  uv_read_start(stream(from(flow)), SessionCallbacks::alloc,
                &flow == &c2b_ ? SessionCallbacks::client_read : SessionCallbacks::backend_read);
}

void Session::on_write_failed(Flow& flow) {
  if (phase_ == Phase::Exchanging) {
    on_exchange_write_failed(flow);
    return;
  }
  if (to(flow) == &client_) {
    close(CloseReason::ClientError);
    return;
  }
  // The backend cannot take bytes any more: it is gone, as if it had reset.
  on_flow_ended(b2c_, UV_EPIPE);
}

// A WebSocket ends normally when `ending` has ended (EOF, or the last Close written): the peer that
// started the close handshake is who closed it; failing that, the one whose side ended.
void Session::settle_end_reason(const Flow& ending) {
  if (reason_ != CloseReason::None) return;
  const Flow& other = peer(ending);
  const Flow& closer = other.closed_first ? other : ending;
  reason_ = &closer == &c2b_ ? CloseReason::ClientClosed : CloseReason::BackendClosed;
}

// `from` of this flow ended: EOF (status UV_EOF) or an error such as a reset.
void Session::on_flow_ended(Flow& flow, int status) {
  if (flow.raw) {
    on_raw_flow_ended(flow, status);  // mode: tcp: no Close frames, a FIN or a reset (tcp_session.cpp)
    return;
  }
  if (flow.eof) return;
  flow.eof = true;
  net::stop_reading(from(flow));
  if (!flow.tracker.at_frame_boundary()) flow.insert_impossible = true;
  if (&flow == &b2c_) {
    if (status != UV_EOF) backend_dead_ = true;
    // A backend ending without a Close is a failure only if nothing ended first: after the
    // client's own EOF (propagated to the backend) it is the normal end of a dropped client.
    if (!b2c_.saw_close && !c2b_.close_sent && !c2b_.eof) {
      // The backend went away without a Close: tell the client to reconnect (1012), so that it
      // lands, by the hash, on a live backend.
      backend_dead_ = true;
      reason_ = CloseReason::BackendVanished;
      c2b_.discard = true;
      log::warn("backend went away without a close",
                {{"pool", pool_->config->name},
                 {"backend", pool_->backends[backend_index_]->config->name},
                 {"client", std::string(client_ip())},
                 {"error", status == UV_EOF ? "eof" : uv_strerror(status)}});
      const BackendRuntime& gone = *pool_->backends[backend_index_];  // a reset counts for passive ejection
      if (status != UV_EOF) health::on_backend_failure(*gone.state, pool_->config->passive, uv_now(worker().loop()),
                                                       pool_->config->name, gone.config->name, uv_strerror(status));
      send_close(b2c_, 1012, "backend went away");
    } else {
      settle_end_reason(b2c_);
      maybe_finish();  // when the client is done too, closing is the FIN
      if (phase_ != Phase::Relaying) return;
      shutdown_write(b2c_);  // propagate the backend's end to the client
    }
  } else {
    if (status != UV_EOF) {
      close(CloseReason::ClientError);
      return;
    }
    settle_end_reason(c2b_);
    maybe_finish();  // when the backend is done too, closing is the FIN
    if (phase_ != Phase::Relaying) return;
    shutdown_write(c2b_);  // propagate the client's end to the backend
  }
  start_close_grace();
  maybe_finish();
}

void Session::on_protocol_violation(Flow& flow, ws::FrameError error) {
  // From here the offender's bytes are read and dropped (closing with unread input would make the
  // kernel send RST, which could destroy our Close before the peer reads it).
  flow.violated = true;
  flow.discard = true;
  const bool from_client = &flow == &c2b_;
  switch (error) {
    case ws::FrameError::MessageTooBig: reason_ = CloseReason::TooBig; break;
    case ws::FrameError::RateLimited: reason_ = CloseReason::RateLimited; break;
    default: reason_ = CloseReason::Protocol; break;
  }
  log::warn(error == ws::FrameError::RateLimited ? "message rate limit exceeded"
            : error == ws::FrameError::MessageTooBig ? "message too big"
                                                     : "websocket protocol violation",
            {{"from", from_client ? "client" : "backend"},
             {"error", ws::to_string(error)},
             {"client", std::string(client_ip())},
             {"backend", pool_->backends[backend_index_]->config->name}});
  // The side that broke the rules gets 1002 (1009 too big, 1008 rate limit); the other side 1001.
  Flow& toward_offender = from_client ? b2c_ : c2b_;
  Flow& toward_other = from_client ? c2b_ : b2c_;
  send_close(toward_offender, ws::close_code_for(error), ws::to_string(error));
  send_close(toward_other, ws::close_code::GoingAway, "going away");
  // The offender's stream is broken, so its Close reply cannot be recognised: after our Close it
  // gets a TCP FIN, and it is done when it closes its side.
  shutdown_write(toward_offender);
  start_close_grace();
  maybe_finish();
}

// Both Close frames passed through ringway and the last one is written: the client's close
// handshake is over, and its socket is closed now without waiting for its FIN, as RFC 6455 section
// 7.1.1 wants of a server (the TIME_WAIT stays on the server's side, where it costs no ephemeral
// port). That saves reading the FIN, and the client is not kept waiting for the backend's end. Its
// access-log line is written now: nothing about the conversation can change any more. The backend,
// to which ringway is the client, still closes first: its FIN is awaited (or the close grace).
// Not over TLS: the client's close_notify, arriving after its Close and left unread, would turn the
// close into a reset that can destroy what ringway sent last.
void Session::finish_client() {
  // After both Close frames nothing more may go to the client: no Close (send_close sees
  // b2c_.saw_close), no Ping (the close grace stops the policy timer), no FIN (shutdown_write).
  client_finished_ = true;
  client_dead_ = true;  // done for maybe_finish
  settle_end_reason(b2c_);  // the backend's Close, or its reply, was the last
  log_end();
  c2b_.eof = true;      // never read again (resume_reading)
  b2c_.discard = true;  // a backend breaking the rules after its Close writes nowhere
  net::stop_reading(&client_);
  close_sockets_before_poll();
  start_close_grace();
}

void Session::go_away() {
  metrics::note_go_away(worker().metrics(), marks_, !worker().accepting());  // listeners closed: shutdown
  going_away_ = true;
  if (tcp_mode_) {
    go_away_at(uv_now(worker().loop()));  // not normally paced (Worker gives the deadline): a FIN now
    return;
  }
  if (phase_ != Phase::Relaying) {
    http_go_away();  // plain HTTP: Connection: close, or an idle keep-alive connection ends now
    return;  // an upgrade in progress: begin_relay calls back once it completes
  }
  if (reason_ == CloseReason::None) reason_ = CloseReason::Shutdown;
  send_close(b2c_, 1001, "going away");
  send_close(c2b_, 1001, "going away");
  start_close_grace();
  maybe_finish();
}

// Queues ringway's own Close in the stream `toward` (b2c_ = toward the client, c2b_ = toward the
// backend) at its next frame boundary; from then on the peer's data frames are not forwarded.
void Session::send_close(Flow& toward, uint16_t code, std::string_view reason) {
  // After a Close passed toward that peer (its own peer's, relayed), no frame may follow.
  if (toward.close_sent || toward.saw_close || toward.insert_size != 0) return;
  if (&toward == &c2b_ && backend_dead_) return;
  const bool to_backend = &toward == &c2b_;
  std::array<uint8_t, 4> mask{};
  if (to_backend) {
    // A client-side frame must be masked; the key needs to be unpredictable only against a
    // hostile *sender* of the payload, which ringway itself is not, so a cheap source will do.
    const uint64_t r = uv_hrtime() * 0x9E3779B97F4A7C15ULL;
    std::memcpy(mask.data(), &r, 4);
  }
  if (toward.insert_impossible) {
    // The stream toward that peer ended mid-frame: no valid frame can follow, the FIN must do.
    toward.close_sent = true;
    shutdown_write(toward);
    return;
  }
  toward.observer.ringway_close(code);  // the access log; counted once emitted
  toward.insert_size = static_cast<uint8_t>(
      ws::write_close_frame(insert_frame(toward), code, reason, to_backend ? &mask : nullptr));
  // A stream whose sender broke the rules was forwarded up to the start of the bad frame (a
  // partial header forwarded is insert_impossible, handled above): it is at a boundary although
  // its tracker stopped inside that frame's header.
  if (toward.violated || toward.tracker.at_frame_boundary()) emit_insert(toward);
}

void Session::emit_insert(Flow& flow) {
  const uint8_t size = flow.insert_size;
  flow.insert_size = 0;
  flow.close_sent = true;
  flow.observer.ringway_close_sent(worker().metrics());  // metrics: ringway_closes_total, failovers
  flow.discard = true;  // after our Close, the peer's data frames are not forwarded any more
  if (!write_through(flow, std::span<const uint8_t>(insert_frame(flow).data(), size))) return;
  if (flow.shutdown_wanted && !flow.writing) shutdown_write(flow);
}

void Session::shutdown_write(Flow& flow) {
  if (flow.shutdown_sent) return;
  if (to(flow) == &backend_ && backend_dead_) return;
  if (to(flow) == &client_ && client_finished_) return;  // its socket is closed (finish_client)
  shutdown_tls(to(flow));  // a TLS peer gets close_notify before the FIN
  if (flow.writing || flow.insert_size != 0) {
    flow.shutdown_wanted = true;  // after the pending bytes
    return;
  }
  flow.shutdown_sent = true;
  // Allocated per shutdown (once per flow at most): an idle flow does not carry the request.
  auto* req = new uv_shutdown_t;
  uv_shutdown(req, stream(to(flow)), [](uv_shutdown_t* r, int) { delete r; });
}

void Session::start_close_grace() {
  if (tcp_mode_) {
    start_tcp_grace();  // shares the timer with the drain deadline (tcp_session.cpp)
    return;
  }
  if (grace_armed_) return;
  grace_armed_ = true;
  arm_timer(TimerPurpose::Linger, kCloseGraceMs);
}

// Both Close frames have passed and none of ringway's own waits to go to the client: once the last
// is written, finish_client. Not over TLS (see finish_client).
bool Session::client_handshake_over() const {
  return c2b_.saw_close && b2c_.saw_close && b2c_.insert_size == 0 && tls_of(&client_) == nullptr;
}

// The session ends once each peer is done (it ended its side, or answered ringway's Close, or broke
// the protocol) and nothing is left to write to a peer that can still take it.
void Session::maybe_finish() {
  if (phase_ != Phase::Relaying) return;
  if (!client_finished_ && client_handshake_over() && !b2c_.writing) finish_client();
  const bool client_done = client_dead_ || c2b_.eof || (b2c_.close_sent && c2b_.saw_close);
  const bool backend_done = backend_dead_ || b2c_.eof || (c2b_.close_sent && b2c_.saw_close);
  if (!client_done || !backend_done) return;
  const bool flushed = (client_dead_ || (!b2c_.writing && b2c_.insert_size == 0)) &&
                       (backend_dead_ || (!c2b_.writing && c2b_.insert_size == 0));
  if (!flushed) return;
  close(reason_ == CloseReason::None ? CloseReason::ClientClosed : reason_);
}

}  // namespace ringway
