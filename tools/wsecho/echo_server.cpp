#include "tools/wsecho/echo_server.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cassert>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "tools/wsecho/frame.h"
#include "tools/wsecho/http_head.h"

namespace wsecho {
namespace {

constexpr std::size_t kMaxHeadSize = 64UL * 1024;
constexpr uint64_t kMaxMessageSize = 64ULL * 1024 * 1024;  // larger: Close 1009, as a real server would
// Backpressure: stop reading a client that does not read its echoes, resume once most is flushed.
constexpr std::size_t kWriteHighWater = 1024UL * 1024;
constexpr std::size_t kWriteLowWater = 256UL * 1024;
constexpr uint64_t kLingerMs = 2000;        // wait for the peer's FIN after ours, then close anyway
constexpr uint64_t kCloseReplyMs = 5000;    // wait for the client's Close after we sent ours
constexpr std::size_t kKeepCapacity = 64UL * 1024;  // give large-message buffers back once idle

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Rejected";
  }
}

}  // namespace

// One client socket. Owns its libuv handles (the TCP stream and a timer) and is deleted only once both
// close callbacks have run, so no callback ever sees a freed object.
class Connection {
 public:
  explicit Connection(EchoServer& server) : server_(server) {
    tcp_.data = this;
    timer_.data = this;
    shutdown_req_.data = this;
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&&) = delete;  // libuv holds pointers into it
  Connection& operator=(Connection&&) = delete;
  ~Connection() = default;

  int accept(uv_stream_t* listener) {
    uv_tcp_init(server_.loop(), &tcp_);
    uv_timer_init(server_.loop(), &timer_);
    open_handles_ = 2;
    if (const int rc = uv_accept(listener, stream()); rc != 0) {
      return rc;
    }
    uv_tcp_nodelay(&tcp_, 1);  // echoes are small and latency-sensitive in tests and benchmarks
    start_reading();
    return 0;
  }

  // Abrupt end (error, peer gone, __drop__, server stop). Idempotent: every path ends here.
  void close() {
    if (state_ == State::Closed) {
      return;
    }
    set_state(State::Closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_handle_closed);
  }

 private:
  enum class State : uint8_t {
    Head,       // reading the HTTP request head
    Open,       // WebSocket open: echoing
    CloseSent,  // we sent Close (__close__), waiting for the client's
    Lingering,  // done: our FIN is queued, input is discarded until the peer's FIN or a timeout
    Closed,     // uv_close called
  };

  struct WriteReq {
    uv_write_t req{};
    std::string data;
    Connection* owner = nullptr;
  };

  void set_state(State next) {
    [[maybe_unused]] const bool allowed =
        next == State::Closed ||
        (state_ == State::Head && (next == State::Open || next == State::Lingering)) ||
        (state_ == State::Open && (next == State::CloseSent || next == State::Lingering)) ||
        (state_ == State::CloseSent && next == State::Lingering);
    assert(allowed && state_ != State::Closed);
    state_ = next;
  }

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  void start_reading() {
    if (!reading_ && state_ != State::Closed) {
      reading_ = true;
      uv_read_start(stream(), on_alloc, on_read);
    }
  }
  void stop_reading() {
    if (reading_) {
      reading_ = false;
      uv_read_stop(stream());
    }
  }

  static void on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
    *buf = static_cast<Connection*>(handle->data)->server_.read_buffer();
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Connection*>(s->data);
    if (nread < 0) {
      self->close();  // EOF or error: in every state the conversation is over
      return;
    }
    if (nread == 0 || self->state_ == State::Lingering || self->state_ == State::Closed) {
      return;
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(buf->base);
    self->in_.insert(self->in_.end(), bytes, bytes + nread);
    self->process();
  }

  static void on_handle_closed(uv_handle_t* handle) {
    auto* self = static_cast<Connection*>(handle->data);
    if (--self->open_handles_ == 0) {
      self->server_.forget(self);
      delete self;
    }
  }

  static void on_write(uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> w(static_cast<WriteReq*>(req->data));
    Connection* self = w->owner;
    if (status < 0) {
      self->close();  // includes UV_ECANCELED after close(): close() is idempotent
      return;
    }
    self->update_backpressure();
  }

  static void on_shutdown(uv_shutdown_t* req, int status) {
    if (status < 0) {
      static_cast<Connection*>(req->data)->close();
    }
  }

  static void on_timer(uv_timer_t* timer) { static_cast<Connection*>(timer->data)->close(); }

  void send(std::string data) {
    if (state_ == State::Closed || state_ == State::Lingering || data.empty()) {
      return;
    }
    auto w = std::make_unique<WriteReq>();
    w->data = std::move(data);
    w->owner = this;
    w->req.data = w.get();
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, stream(), &buf, 1, on_write) != 0) {
      close();
      return;
    }
    static_cast<void>(w.release());  // owned by the loop until on_write, which adopts it again
    update_backpressure();
  }

  void update_backpressure() {
    if (state_ == State::Closed || state_ == State::Lingering) {
      return;  // a lingering connection reads (and discards) regardless, to see the peer's FIN
    }
    const std::size_t queued = uv_stream_get_write_queue_size(stream());
    if (!paused_ && queued > kWriteHighWater) {
      paused_ = true;
      stop_reading();
    } else if (paused_ && queued < kWriteLowWater) {
      paused_ = false;
      start_reading();
    }
  }

  // Our part is done: flush what is queued, send FIN, and wait briefly for the peer's FIN. Closing at
  // once could turn unread input into a RST that destroys the Close frame we just sent.
  void finish() {
    if (state_ == State::Closed || state_ == State::Lingering) {
      return;
    }
    set_state(State::Lingering);
    in_.clear();
    paused_ = false;
    start_reading();
    if (uv_shutdown(&shutdown_req_, stream(), on_shutdown) != 0) {
      close();
      return;
    }
    uv_timer_start(&timer_, on_timer, kLingerMs, 0);
  }

  void respond(int status, std::string_view body, std::string_view extra_headers = {}, bool head_only = false) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
    out += "Content-Type: text/plain\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "Connection: close\r\n";
    out += "X-Backend: " + server_.options().id + "\r\n";
    out += extra_headers;
    out += "\r\n";
    if (!head_only) {
      out += body;
    }
    send(std::move(out));
    finish();
  }

  void process() {
    if (state_ == State::Head) {
      process_head();
    }
    if (state_ == State::Open || state_ == State::CloseSent) {
      process_frames();
    }
  }

  void process_head() {
    HeadParse parsed = parse_request_head(in_);
    if (parsed.status == HeadStatus::Incomplete) {
      if (in_.size() > kMaxHeadSize) {
        respond(431, "request head too large\n");
      }
      return;
    }
    if (parsed.status == HeadStatus::Malformed) {
      respond(400, parsed.error + "\n");
      return;
    }
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(parsed.consumed));
    head_ = std::move(parsed.head);
    const Options& opts = server_.options();

    if (!head_.has_token("Upgrade", "websocket")) {
      const std::string_view target = head_.target;
      const bool health = target == "/health" || target.starts_with("/health?");
      if (health && (head_.method == "GET" || head_.method == "HEAD")) {
        respond(200, "ok", {}, head_.method == "HEAD");
      } else {
        respond(400, "wsecho " + opts.id + ": expected a WebSocket upgrade\n");
      }
      return;
    }
    if (opts.reject_status != 0) {
      respond(opts.reject_status, "rejected by " + opts.id + "\n");
      return;
    }
    const auto key = head_.get("Sec-WebSocket-Key");
    if (head_.method != "GET" || head_.version != "HTTP/1.1" || !head_.has_token("Connection", "upgrade") ||
        !key || key->empty()) {
      respond(400, "bad WebSocket upgrade\n");
      return;
    }
    if (head_.get("Sec-WebSocket-Version") != "13") {
      respond(426, "unsupported Sec-WebSocket-Version\n", "Sec-WebSocket-Version: 13\r\n");
      return;
    }

    std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    out += "Sec-WebSocket-Accept: " + websocket_accept(*key) + "\r\n";
    if (const auto protocols = head_.get("Sec-WebSocket-Protocol")) {
      // Select the first offered subprotocol: tests can then check that offers pass through.
      const std::string_view offered = *protocols;
      const auto first = trim(offered.substr(0, offered.find(',')));
      if (!first.empty()) {
        out += "Sec-WebSocket-Protocol: " + std::string(first) + "\r\n";
      }
    }
    out += "X-Backend: " + opts.id + "\r\n";
    if (const auto xff = head_.get("X-Forwarded-For")) {
      out += "X-Seen-Forwarded-For: " + *xff + "\r\n";
    }
    if (const auto proto = head_.get("X-Forwarded-Proto")) {
      out += "X-Seen-Forwarded-Proto: " + *proto + "\r\n";
    }
    out += "X-Seen-Target: " + head_.target + "\r\n\r\n";
    if (opts.hello) {
      out += encode_frame(opcode::kText, "backend=" + opts.id);  // same write as the 101, on purpose
    }
    set_state(State::Open);
    send(std::move(out));
    // Whatever followed the head in the same read is already in in_; process() handles it next.
  }

  // Fail the WebSocket connection (RFC 6455 7.1.7): Close with CODE, then close TCP.
  void fail(uint16_t code, std::string_view reason) {
    send(encode_frame(opcode::kClose, close_payload(code, reason)));
    finish();
  }

  void process_frames() {
    std::size_t consumed = 0;
    while (state_ == State::Open || state_ == State::CloseSent) {
      const std::span<uint8_t> avail = std::span(in_).subspan(consumed);
      const Decoded d = decode_header(avail);
      if (d.status == DecodeStatus::NeedMore) {
        break;
      }
      if (d.status == DecodeStatus::Invalid) {
        fail(1002, "invalid frame length");
        return;
      }
      const FrameHeader& h = d.header;
      const bool control = (h.opcode & 0x8U) != 0;
      if (!h.masked) {
        fail(1002, "unmasked client frame");
        return;
      }
      if (h.rsv != 0) {
        fail(1002, "reserved bits set");
        return;
      }
      if (h.opcode > opcode::kBinary && !control) {
        fail(1002, "reserved opcode");
        return;
      }
      if (control && (h.opcode > opcode::kPong || !h.fin || h.payload_length > 125)) {
        fail(1002, "bad control frame");
        return;
      }
      if (h.payload_length + (control ? 0 : message_.size()) > kMaxMessageSize) {
        fail(1009, "message too big");
        return;
      }
      const std::size_t frame_size = h.header_size + static_cast<std::size_t>(h.payload_length);
      if (avail.size() < frame_size) {
        in_.reserve(consumed + frame_size);  // one allocation for a large frame, not one per read
        break;
      }
      const std::span<uint8_t> payload = avail.subspan(h.header_size, static_cast<std::size_t>(h.payload_length));
      apply_mask(payload, h.mask);
      consumed += frame_size;
      on_frame(h, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
    }
    if (state_ == State::Closed || state_ == State::Lingering) {
      return;  // finish()/close() already dropped the input
    }
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(consumed));
    if (in_.empty() && in_.capacity() > kKeepCapacity) {
      std::vector<uint8_t>().swap(in_);
    }
  }

  void on_frame(const FrameHeader& h, std::string_view payload) {
    switch (h.opcode) {
      case opcode::kClose:
        if (state_ == State::CloseSent) {
          finish();  // the client answered our Close: the handshake is complete
        } else if (payload.size() == 1) {
          fail(1002, "close payload of one byte");
        } else {
          send(encode_frame(opcode::kClose, payload));  // echo code and reason as received
          finish();
        }
        return;
      case opcode::kPing:
        if (state_ == State::Open) {
          send(encode_frame(opcode::kPong, payload));
        }
        return;
      case opcode::kPong:
        return;
      case opcode::kContinuation:
        if (!in_message_) {
          fail(1002, "continuation without a message");
          return;
        }
        message_.append(payload);
        if (h.fin) {
          in_message_ = false;
          std::string whole;
          whole.swap(message_);
          on_message(message_opcode_, whole);
        }
        return;
      default:  // Text or Binary
        if (in_message_) {
          fail(1002, "new message inside a fragmented one");
          return;
        }
        if (h.fin) {
          on_message(h.opcode, payload);
        } else {
          in_message_ = true;
          message_opcode_ = h.opcode;
          message_.assign(payload);
        }
        return;
    }
  }

  void on_message(uint8_t op, std::string_view payload) {
    if (state_ != State::Open) {
      return;  // after our Close only the client's Close matters (RFC 6455 5.5.1)
    }
    if (op == opcode::kText) {
      const Options& opts = server_.options();
      if (payload == "__whoami__") {
        send(encode_frame(opcode::kText, "backend=" + opts.id));
        return;
      }
      if (payload == "__headers__") {
        send(encode_frame(opcode::kText, head_.raw));
        return;
      }
      if (payload == "__drop__") {
        close();  // vanish without a Close frame, like a crashed backend
        return;
      }
      if (payload == "__close__" || payload.starts_with("__close__ ")) {
        close_on_request(payload.substr(std::min<std::size_t>(payload.size(), 10)));
        return;
      }
    }
    send(encode_frame(op, payload));
  }

  // "__close__ CODE REASON": start the closing handshake from the server side.
  void close_on_request(std::string_view args) {
    unsigned code = 1000;
    std::string_view reason;
    if (!args.empty()) {
      const auto space = args.find(' ');
      const std::string_view code_text = args.substr(0, space);
      const auto [ptr, ec] = std::from_chars(code_text.data(), code_text.data() + code_text.size(), code);
      if (ec != std::errc() || ptr != code_text.data() + code_text.size() || code > 0xFFFF) {
        code = 1000;
      }
      if (space != std::string_view::npos) {
        reason = args.substr(space + 1);
      }
    }
    send(encode_frame(opcode::kClose, close_payload(static_cast<uint16_t>(code), reason)));
    set_state(State::CloseSent);
    uv_timer_start(&timer_, on_timer, kCloseReplyMs, 0);
  }

  EchoServer& server_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_shutdown_t shutdown_req_{};
  int open_handles_ = 0;
  State state_ = State::Head;
  bool reading_ = false;
  bool paused_ = false;
  std::vector<uint8_t> in_;  // unprocessed input: a partial head or a partial frame
  RequestHead head_;
  bool in_message_ = false;
  uint8_t message_opcode_ = 0;
  std::string message_;  // fragments of the message being reassembled
};

EchoServer::EchoServer(uv_loop_t* loop, Options options) : loop_(loop), options_(std::move(options)) {
  listener_.data = this;
}

int EchoServer::start(std::string& bound) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  if (getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return UV_EAI_NONAME;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);

  uv_tcp_init(loop_, &listener_);
  listener_open_ = true;
  int rc = uv_tcp_bind(&listener_, found->ai_addr, 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 4096, on_connection);
  }
  if (rc != 0) {
    return rc;
  }
  sockaddr_storage addr{};
  int len = sizeof(addr);
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t real_port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                                        : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  const bool v6 = options_.host.find(':') != std::string::npos;
  bound = (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(real_port);
  return 0;
}

void EchoServer::stop() {
  if (listener_open_) {
    listener_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  }
  for (Connection* c : connections_) {
    c->close();  // erased from the set only in the close callback, so iterating here is safe
  }
}

void EchoServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<EchoServer*>(listener->data);
  if (status < 0) {
    std::fprintf(stderr, "wsecho %s: accept: %s\n", self->options_.id.c_str(), uv_strerror(status));
    return;
  }
  auto* c = new Connection(*self);  // freed by its own close callback
  self->connections_.insert(c);
  if (const int rc = c->accept(listener); rc != 0) {
    std::fprintf(stderr, "wsecho %s: accept: %s\n", self->options_.id.c_str(), uv_strerror(rc));
    c->close();
  }
}

}  // namespace wsecho
