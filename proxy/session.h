// One client connection, from accept to the last close callback: the HTTP upgrade (read and validate
// the head, pick a backend, connect with retries, forward the head, check the 101), then the relay
// (both directions, frame-aware, with backpressure), then the close. Both sockets belong to the
// worker loop for the whole life of the session; the object frees itself in the last close callback.
//
// Handshake: session.cpp. Relay: relay.cpp. mode: tcp (no HTTP, raw relay, FIN at drain deadlines):
// tcp_session.cpp. Plain HTTP requests (keep-alive, bodies through the same flows): http_exchange.cpp.
// Every end goes through close(CloseReason).
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lb/hash_key.h"
#include "proxy/close_reason.h"
#include "proxy/metrics.h"
#include "proxy/runtime.h"
#include "proxy/session_list.h"
#include "proxy/text_pair.h"
#include "proxy/timer_wheel.h"
#include "proxy/listener_state.h"
#include "proxy/ws/frame_tracker.h"

namespace ringway {

namespace tls {
class TlsSession;
}
struct HandshakeState;
struct SessionCallbacks;
struct HttpExchange;
namespace http {
struct RequestHead;
}

// The session is its own entry in the worker's timer wheel and its own node in the worker's session
// lists (private bases, so that the wheel's callback and the lists find the session again without a
// pointer per session).
class Session : private TimerWheel::Entry, private IntrusiveList<Session>::Node {
 public:
  // On the loop of the listener's worker.
  Session(ListenerState& listener, std::shared_ptr<const Runtime> runtime);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Accepts from the listening socket and starts reading the request head.
  bool accept(uv_stream_t* server);
  // Graceful shutdown or drain: a WebSocket gets Close 1001 at the next frame boundary in both
  // directions; a session still in its handshake gets it as soon as its upgrade completes.
  void go_away();
  // Ends the session now (idempotent): every way a session ends passes through here. Its access-log
  // line is written (or batched) now; its sockets stop being read now and are closed by
  // close_sockets(), which the worker calls before its loop next polls, once that line is out
  // (Worker::close_before_poll): a peer never sees the end before the line is in the log.
  void close(CloseReason reason);
  void close_sockets();  // the client's, and the backend's once the session is closed

  // mode: tcp (tcp_session.cpp). Such a session is not paced by the worker: it is told the drain or
  // shutdown deadline, keeps relaying until then, and then both peers get a FIN (the earliest
  // deadline wins; a deadline already passed ends it now).
  bool tcp_mode() const { return tcp_mode_; }
  void go_away_at(uint64_t deadline_ms);
  // Undrain: forget a deadline not reached yet. False when the session has already begun to end.
  bool cancel_go_away();

  // How long the peers have to finish a close handshake (or a half-close) before the cut.
  static constexpr uint64_t kCloseGraceMs = 5000;

  // True when this session is connected to the backend with this state (by identity, whatever
  // configuration generation the session started under).
  bool uses_backend(const health::BackendState* state) const {
    return backend_connected_ && pool_->backends[backend_index_]->state.get() == state;
  }

  // Membership in one of the worker's session lists (O(1) removal, no allocation).
  IntrusiveList<Session>::Node& link() { return *this; }

 private:
  friend struct SessionCallbacks;
  friend class IntrusiveList<Session>;  // casts its nodes back to sessions

  enum class Phase : uint8_t {
    ReadingProxyHeader,  // proxy_protocol: the PROXY header, before anything else (raw, before TLS)
    ReadingHead,       // accumulating the client's request head
    ClientTls,         // tcp mode: the client's TLS handshake, before a backend is picked
    Connecting,        // trying backends
    AwaitingResponse,  // head forwarded, waiting for the backend's answer
    ForwardingAnswer,  // relaying a non-101 answer to the client, then the end
    Relaying,          // after the 101: WebSocket frames both ways
    Exchanging,        // a plain HTTP request and its response in flight (http_exchange.cpp)
    Lingering,         // an error answer was sent; draining the client's input briefly
    Closed,
  };

  enum class TimerPurpose : uint8_t { Handshake, Connect, Response, Linger, Policy, Tcp };

  struct Flow;
  struct PendingWrite {
    uv_write_t req{};
    std::vector<uint8_t> bytes;    // being written
    std::vector<uint8_t> backlog;  // queued meanwhile (ringway's own frames, TLS records)
  };
  // Receives a flow's frame-tracker events and passes them to the flow's observer (metrics, access
  // log), to the client policy and to the flow's close state. Built on the stack around each feed,
  // so that a flow stores no pointers back to itself or to its session.
  struct FlowSink final : ws::FrameSink {
    Session& session;
    Flow& flow;
    FlowSink(Session& s, Flow& f) : session(s), flow(f) {}
    ws::FrameError admit_frame(const ws::FrameHeader& header) override;
    void on_frame_header(const ws::FrameHeader& header) override;
    void on_frame_payload(const ws::FrameHeader& header, std::span<const uint8_t> bytes, uint64_t offset) override;
    void on_frame_end(const ws::FrameHeader& header, bool message_end) override;
  };

  // One direction of the relay: bytes read from from(flow) are tracked and written on to to(flow).
  // c2b_ reads the client and writes the backend, b2c_ the reverse; peer(flow) is the other one.
  // Kept small (one per direction in every idle session): the flags are bits, the endpoints derived.
  struct Flow {
    ws::FrameTracker tracker;
    // Bytes the destination has not taken yet, and the write request carrying them: allocated when
    // a write stays pending and freed when it completes, so an idle flow holds no buffer and no
    // request. Reading from the source stops while it exists (backpressure: bounded by one read).
    std::unique_ptr<PendingWrite> out;
    uint64_t bytes = 0;
    metrics::FlowObserver observer;  // counts messages, sizes and Close frames
    bool writing : 1 = false;
    bool eof : 1 = false;              // the source ended (EOF or error)
    bool shutdown_sent : 1 = false;    // the destination was told that no more bytes come
    bool shutdown_wanted : 1 = false;  // ...once the pending bytes are written
    bool saw_close : 1 = false;        // a Close frame passed from the source
    bool closed_first : 1 = false;     // ...and it started the close handshake
    bool discard : 1 = false;          // bytes from the source are no longer forwarded
    bool violated : 1 = false;         // the source broke the protocol; its bytes are ignored
    bool close_sent : 1 = false;       // ringway inserted its own Close toward the destination
    bool insert_impossible : 1 = false;  // the source ended mid-frame: no frame of ours can follow
    bool raw : 1 = false;              // tcp mode: bytes pass as they are, the tracker is never fed
    // Edge-triggered polling of the source (tune_polling): short reads in a row toward it, and how
    // often a full read turned it back to level triggering (at kMaxLevelReturns it stays there).
    uint8_t short_reads : 5 = 0;
    uint8_t level_returns : 3 = 0;
    uint8_t insert_size = 0;  // a frame of ringway's waiting for the next boundary (insert_frame)
    Flow(ws::Direction direction, uint64_t max_message)
        : tracker(direction, max_message),
          observer(direction == ws::Direction::ClientToServer ? metrics::Dir::ClientToBackend
                                                              : metrics::Dir::BackendToClient) {}
  };
  uv_tcp_t* from(const Flow& flow) { return &flow == &c2b_ ? &client_ : &backend_; }
  uv_tcp_t* to(const Flow& flow) { return &flow == &c2b_ ? &backend_ : &client_; }
  Flow& peer(const Flow& flow) { return &flow == &c2b_ ? b2c_ : c2b_; }

  // Handshake (session.cpp). begin_client_protocol: the client's own protocol starts (right after
  // accept, or after a PROXY header): HTTP head reading, or the tcp relay's connect.
  void begin_client_protocol();
  void admit_client();
  void begin_connecting(uint64_t key_hash);
  void arm_timer(TimerPurpose purpose, uint64_t timeout_ms);
  void stop_timer();
  void on_timer();
  void on_client_read(ssize_t nread, const uv_buf_t* buf);
  void hold_client_bytes(ssize_t nread, const uv_buf_t* buf);
  bool reads_backend_from_connect() const;
  void append_head_bytes(std::string_view bytes);
  void handle_head();
  void start_connect();
  void on_connected(int status);
  void on_connect_failed(int status);
  void close_backend_handle();
  void on_backend_closed();
  void on_backend_read(ssize_t nread, const uv_buf_t* buf);
  void on_backend_answer(ssize_t nread, const uv_buf_t* buf);
  void finish_answer();
  void reject(int status, std::string_view reason, CloseReason why, std::string_view extra_headers = {});
  void linger_client(CloseReason why);
  void write_to(uv_tcp_t* stream, std::string bytes);
  void log_end();
  void on_handle_closed();
  void finish();  // the last handle closed: the session is gone

  // TLS (tls_io.cpp): reads decrypt, plaintext writes encrypt; plain sockets pass straight through.
  void read_socket(uv_tcp_t* stream);  // libuv found it readable: recv into the slab, then on_read
  // After a relayed read from `stream`: a connection that keeps exchanging short reads gets its
  // socket polled edge-triggered, and a read that fills the slab turns it back (proxy/edge_poll.h).
  void tune_polling(uv_tcp_t* stream, bool filled_slab);
  void on_read(uv_tcp_t* stream, ssize_t nread, const uv_buf_t* buf);
  void deliver(uv_tcp_t* stream, ssize_t nread, const uv_buf_t* buf);
  tls::TlsSession* tls_of(const uv_tcp_t* stream) const;
  void flush_tls(uv_tcp_t* stream);
  void send_plain(uv_tcp_t* stream, std::string bytes);
  void shutdown_tls(uv_tcp_t* stream);
  void on_tls_failure(uv_tcp_t* stream);

  // The client's address and request target (client_text_).
  std::string_view client_ip() const;
  std::string_view target() const;  // "" before a request head
  void set_client_ip(std::string_view ip);
  void set_target(std::string_view target);

  // Affinity cookie (session_affinity.cpp).
  void read_affinity(std::span<const lb::HeaderView> headers);
  std::optional<uint32_t> affinity_pick() const;
  std::string affinity_header_lines();

  // Relay (relay.cpp).
  void begin_relay(size_t response_head_end);
  void on_relay_read(Flow& flow, ssize_t nread, const uv_buf_t* buf);
  void relay_bytes(Flow& flow, std::span<const uint8_t> bytes);
  // How a write ends. FinFollows: the socket is closed right after these bytes (the last Close of
  // the client's handshake, see finish_client), so the kernel may hold them for the FIN (MSG_MORE)
  // and send both in one segment: a packet and its ACK fewer per connection.
  enum class WriteEnd : uint8_t { Push, FinFollows };
  bool write_through(Flow& flow, std::span<const uint8_t> bytes,  // plaintext (encrypts for TLS)
                     WriteEnd end = WriteEnd::Push);
  bool write_raw(Flow& flow, std::span<const uint8_t> bytes,  // bytes as they go on the wire
                 WriteEnd end = WriteEnd::Push);
  void on_flow_written(Flow& flow, int status);
  void on_flow_ended(Flow& flow, int status);
  void settle_end_reason(const Flow& ending);
  void on_write_failed(Flow& flow);
  void on_protocol_violation(Flow& flow, ws::FrameError error);
  void send_close(Flow& toward, uint16_t code, std::string_view reason);
  void emit_insert(Flow& flow);
  void shutdown_write(Flow& flow);
  void resume_reading(Flow& flow);
  void maybe_finish();
  bool client_handshake_over() const;
  void finish_client();
  void close_sockets_before_poll();
  void start_close_grace();

  // Plain HTTP/1.1 (http_exchange.cpp): one request at a time on a keep-alive client connection,
  // bodies through c2b_/b2c_ with backpressure. choose_backend() is the one place a backend is
  // picked; response_head_for_client() builds every response head the client gets from a backend
  // (with HandshakeState::extra_response_headers).
  bool route_request(const http::RequestHead& head, uint64_t& key_hash);
  std::optional<uint32_t> choose_backend();
  std::string response_head_for_client(std::string_view raw_head, std::string_view connection);
  void handle_plain_head();
  void keep_or_drop_backend(uint32_t pick);
  void release_backend();
  void begin_exchange();
  void forward_request_body(std::string_view bytes);
  void on_exchange_client_read(ssize_t nread, const uv_buf_t* buf);
  void on_exchange_backend_read(ssize_t nread, const uv_buf_t* buf);
  void forward_response(std::string_view bytes);
  bool on_response_head();
  void on_exchange_backend_end(int status);
  void finish_exchange();
  void complete_exchange();
  void on_exchange_written(Flow& flow);
  void on_exchange_write_failed(Flow& flow);
  void on_idle_backend_read(ssize_t nread);
  void http_go_away();
  void end_http_request(int status);

  // PROXY protocol (proxy_header_io.cpp): the header a balancer sends first, and the one sent to
  // backends of a pool with send_proxy_protocol.
  void read_proxy_header();
  void on_proxy_header_read(ssize_t nread, const uv_buf_t* buf);
  void fail_proxy_header(std::string_view reason);
  std::string proxy_header_for_backend() const;

  // mode: tcp (tcp_session.cpp): no HTTP; the backend is picked by the client's address.
  void begin_tcp();
  void on_tcp_client_read(ssize_t nread, const uv_buf_t* buf);
  void on_tcp_backend_read(ssize_t nread, const uv_buf_t* buf);
  void after_tls_read(uv_tcp_t* stream);
  void refuse_tcp(std::string_view reason, CloseReason why);
  void begin_tcp_relay();
  void relay_raw(Flow& flow, std::span<const uint8_t> bytes);
  void on_raw_flow_ended(Flow& flow, int status);
  void end_tcp_at_deadline();
  void reset_and_close(uv_tcp_t* toward, CloseReason why);
  void start_tcp_grace();
  void arm_tcp_timer();
  void on_tcp_timer();

  // Client policy (policy.cpp): message rate limit, keepalive pings, idle timeout. Allocated at the
  // 101 only when one of them is configured.
  struct ClientPolicy;
  void start_policy();
  void arm_policy_timer();
  void on_policy_timer();
  ws::FrameError admit_client_frame(const ws::FrameHeader& header);
  void relay_watching_pong(std::span<const uint8_t> bytes);
  void send_ping();
  void end_on_policy(CloseReason why, uint16_t client_code, std::string_view reason);

  struct WriteOp {
    uv_write_t req{};
    std::string bytes;
  };

  static constexpr uint64_t kLingerAfterAnswerMs = 2000;

  Worker& worker() const { return *listener_.worker; }
  // ringway's own Close frame for each direction, waiting for that stream's next frame boundary
  // (relay.cpp). One per direction and connection at most: both in one block, allocated with the
  // first and kept, rather than a pointer in each Flow.
  using InsertFrame = std::array<uint8_t, 2 + 8 + 4 + 125>;
  struct InsertFrames {
    InsertFrame c2b;
    InsertFrame b2c;
  };
  InsertFrame& insert_frame(const Flow& flow) {
    if (!inserts_) inserts_ = std::make_unique<InsertFrames>();
    return &flow == &c2b_ ? inserts_->c2b : inserts_->b2c;
  }

  // TLS toward the client (a TLS listener) and toward the backend (a pool with backend_tls): one
  // pointer for both, allocated with the first, so that a plain session carries a single one.
  struct TlsEnds {
    std::unique_ptr<tls::TlsSession> client;
    std::unique_ptr<tls::TlsSession> backend;
    TlsEnds();  // both in tls_io.cpp, where TlsSession is complete
    ~TlsEnds();
  };
  tls::TlsSession* client_tls() const { return tls_ ? tls_->client.get() : nullptr; }
  tls::TlsSession* backend_tls() const { return tls_ ? tls_->backend.get() : nullptr; }
  TlsEnds& tls_ends() {
    if (!tls_) tls_ = std::make_unique<TlsEnds>();
    return *tls_;
  }

  // Data members, widest first so that there are no holes: one Session per connection, idle or
  // not, so every byte here counts (sizeof is checked with gdb's `ptype /o ringway::Session`).
  ListenerState& listener_;  // ...and through it the worker (listener_.worker)
  std::shared_ptr<const Runtime> runtime_;
  // The listener as configured in runtime_ (taken at accept): listener_.runtime follows reloads
  // into the worker's newest Runtime, which this session does not hold, so a pool routed through
  // it could be freed by the next reload while the session uses it.
  const ListenerRuntime* listener_runtime_;
  const PoolRuntime* pool_ = nullptr;

  // mode: tcp only, allocated with such a session (a WebSocket session does not carry it).
  struct TcpClock {
    uint64_t deadline_ms = 0;     // drain/shutdown deadline (loop time); 0 = none
    uint64_t grace_since_ms = 0;  // when the close grace began
    uint64_t last_io_ms = 0;      // last relayed read, so a live half-close is not cut
  };
  std::unique_ptr<TcpClock> tcp_;
  std::unique_ptr<HandshakeState> handshake_;  // released once relaying
  std::unique_ptr<HttpExchange> exchange_;     // the plain HTTP request in flight, if any
  std::unique_ptr<ClientPolicy> policy_;       // only when a websocket policy is configured
  std::unique_ptr<TlsEnds> tls_;
  std::unique_ptr<InsertFrames> inserts_;  // allocated with ringway's first Close (insert_frame)
  // The client's address (text) and, once a request head was read, its target for the access log:
  // one heap block for both, behind one pointer (proxy/text_pair.h).
  TextPair client_text_;

  uv_tcp_t client_{};
  uv_tcp_t backend_{};
  Flow c2b_;
  Flow b2c_;
  // Accept and 101 times, go-away cause: metrics and the access log. The fields below start in its
  // 7 bytes of tail padding ([[no_unique_address]] lets them): bytes first, then the wider ones.
  [[no_unique_address]] metrics::SessionMarks marks_;

  TimerPurpose timer_purpose_ = TimerPurpose::Handshake;
  Phase phase_ = Phase::ReadingHead;
  CloseReason reason_ = CloseReason::None;
  bool counted_on_backend_ : 1 = false;
  bool backend_connected_ : 1 = false;
  bool backend_dead_ : 1 = false;  // reset or vanished: nothing more can be written to it
  bool backend_open_ : 1 = false;
  bool backend_reusable_ : 1 = false;  // backend_ idle, kept for the next plain request
  bool going_away_ : 1 = false;
  bool grace_armed_ : 1 = false;
  bool tcp_mode_ : 1 = false;          // the listener's mode when the session was accepted
  bool tcp_ending_ : 1 = false;        // tcp: ringway sent its FINs (deadline): the grace is strict
  bool held_client_eof_ : 1 = false;   // tcp: the client ended before the backend was connected
  bool client_tls_eof_ : 1 = false;
  bool backend_tls_eof_ : 1 = false;
  bool client_dead_ : 1 = false;       // no Pong in time: the client is gone
  bool counted_per_ip_ : 1 = false;    // holds one of its address's max_connections_per_ip
  uint8_t open_handles_ : 2 = 0;       // client_ and backend_ while open
  bool sockets_to_close_ : 1 = false;  // queued: the worker calls close_sockets() before it polls
  bool client_finished_ : 1 = false;   // the client's close handshake is over (finish_client)
  uint16_t status_sent_ = 0;    // the HTTP status the client got, for the access log
  uint32_t backend_index_ = 0;
  uint32_t http_requests_ = 0;  // plain requests completed on this connection
};

}  // namespace ringway
