#include "tools/wsbench/load.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <thread>

#include "tools/wsbench/protocol.h"

namespace wsbench {
namespace {

constexpr std::size_t kMaxResponseHead = 64UL * 1024;
constexpr uint64_t kTickMs = 5;
constexpr uint64_t kRetryDelayNs = 100ULL * 1000 * 1000;  // a failed reconnect is retried after 100 ms
constexpr uint64_t kVerifyWaitMs = 3000;
constexpr uint64_t kTeardownWaitMs = 2000;
// Every message starts with a tag: the connection's index (4 bytes), the message's sequence number on
// that connection (8 bytes) and a check word derived from both (4 bytes), so that an echo that comes
// back wrong can be told apart: bytes changed (the check word or the body do not match), another
// connection's message (a valid tag with another index), or this connection's, out of order (a valid
// tag with another sequence number). Messages shorter than the tag carry its first bytes only; their
// mismatches all count as corrupted.
constexpr std::size_t kTagSize = 16;

// xorshift64*: masking keys and handshake keys need to vary, not to be secret. One state per thread.
thread_local uint64_t g_rand_state = 0x9E3779B97F4A7C15ULL;
uint64_t next_random() {
  g_rand_state ^= g_rand_state >> 12U;
  g_rand_state ^= g_rand_state << 25U;
  g_rand_state ^= g_rand_state >> 27U;
  return g_rand_state * 0x2545F4914F6CDD1DULL;
}

uint32_t tag_check(uint32_t index, uint64_t seq) {
  uint64_t x = (uint64_t{index} << 40U) ^ seq ^ 0x9E3779B97F4A7C15ULL;
  x ^= x >> 33U;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33U;
  x *= 0xC4CEB9FE1A85EC53ULL;
  x ^= x >> 33U;
  return static_cast<uint32_t>(x);
}

std::array<uint8_t, kTagSize> make_tag(uint32_t index, uint64_t seq) {
  std::array<uint8_t, kTagSize> tag{};
  const uint32_t check = tag_check(index, seq);
  std::memcpy(tag.data(), &index, 4);
  std::memcpy(tag.data() + 4, &seq, 8);
  std::memcpy(tag.data() + 12, &check, 4);
  return tag;
}

void write_tag(uint8_t* out, std::size_t size, uint32_t index, uint64_t seq) {
  const auto tag = make_tag(index, seq);
  std::memcpy(out, tag.data(), std::min(size, kTagSize));
}

// The verdict on one echo: "" when it is the expected message, else the error kind.
const char* verify_echo(std::span<const uint8_t> payload, std::size_t size, const std::vector<uint8_t>& body,
                        uint32_t index, uint64_t seq) {
  if (payload.size() != size) {
    return "echo_corrupted";
  }
  const std::size_t tag = std::min(size, kTagSize);
  if (std::memcmp(payload.data() + tag, body.data() + tag, size - tag) != 0) {
    return "echo_corrupted";
  }
  const auto expected = make_tag(index, seq);
  if (std::memcmp(payload.data(), expected.data(), tag) == 0) {
    return "";
  }
  if (size < kTagSize) {
    return "echo_corrupted";
  }
  uint32_t got_index = 0;
  uint64_t got_seq = 0;
  uint32_t got_check = 0;
  std::memcpy(&got_index, payload.data(), 4);
  std::memcpy(&got_seq, payload.data() + 4, 8);
  std::memcpy(&got_check, payload.data() + 12, 4);
  if (got_check != tag_check(got_index, got_seq)) {
    return "echo_corrupted";
  }
  return got_index != index ? "echo_misrouted" : "echo_reordered";
}

std::string uv_error_text(int rc) { return std::string(uv_err_name(rc)); }

}  // namespace

// One client connection. Owns its TCP handle and is deleted in the handle's close callback, after
// telling the loader how it ended.
class Conn {
 public:
  enum class End : uint8_t { Ours, HandshakeFailed, ServerClosed };

  Conn(Loader& loader, int index, bool reconnect) : loader_(loader), index_(index), reconnect_(reconnect) {
    tcp_.data = this;
    connect_req_.data = this;
    write_req_.data = this;
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  Conn(Conn&&) = delete;
  Conn& operator=(Conn&&) = delete;
  ~Conn() = default;

  // Connects to ADDR, from SOURCE when given (port chosen at connect time, so that each source
  // address has the whole ephemeral range for itself).
  void start(const sockaddr* addr, const sockaddr* source) {
    started_ns_ = uv_hrtime();
    state_ = State::Connecting;
    if (source == nullptr) {
      uv_tcp_init(loader_.loop_ptr_, &tcp_);
    } else {
      if (const int rc = uv_tcp_init_ex(loader_.loop_ptr_, &tcp_, AF_INET); rc != 0) {
        uv_tcp_init(loader_.loop_ptr_, &tcp_);
        fail_handshake("socket: " + uv_error_text(rc));
        return;
      }
      uv_os_fd_t fd = -1;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) {
        const int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      }
      if (const int rc = uv_tcp_bind(&tcp_, source, 0); rc != 0) {
        fail_handshake("bind: " + uv_error_text(rc));
        return;
      }
    }
    if (const int rc = uv_tcp_connect(&connect_req_, &tcp_, addr, on_connect); rc != 0) {
      fail_handshake("connect: " + uv_error_text(rc));
    }
  }

  [[nodiscard]] bool is_open() const { return state_ == State::Open && !close_after_flush_; }
  [[nodiscard]] int index() const { return index_; }
  [[nodiscard]] bool reconnected() const { return reconnect_; }
  [[nodiscard]] End end() const { return end_; }
  [[nodiscard]] uint16_t end_code() const { return end_code_; }
  [[nodiscard]] const std::string& end_why() const { return end_why_; }

  // pingpong: one message in flight; stream: `inflight` messages.
  void start_traffic() {
    if (!is_open()) {
      return;
    }
    const int n = loader_.options_.mode == Mode::Stream ? loader_.options_.inflight : 1;
    now_ns_ = uv_hrtime();
    for (int i = 0; i < n; ++i) {
      send_message();
    }
    flush();
  }

  // connect mode: one message (when --size > 0), then the close handshake.
  void start_cycle() {
    if (loader_.options_.size > 0) {
      send_message();
    } else {
      close_gracefully();
    }
  }

  void probe() {
    if (!is_open()) {
      return;
    }
    probing_ = true;
    now_ns_ = uv_hrtime();
    send_message();
    flush();
  }

  void close_gracefully() {
    if (state_ == State::Connecting || state_ == State::Handshake) {
      finish(End::Ours);
      return;
    }
    if (state_ != State::Open || close_after_flush_) {
      return;
    }
    const auto code = close_code_bytes(1000);
    append_frame(out_, opcode::kClose, code, static_cast<uint32_t>(next_random()));
    state_ = State::CloseSent;
    flush();
  }

  void abort() { finish(End::Ours); }

 private:
  enum class State : uint8_t { Connecting, Handshake, Open, CloseSent, Closed };

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  void finish(End end, uint16_t code = 0, std::string why = {}) {
    if (state_ == State::Closed) {
      return;
    }
    state_ = State::Closed;
    end_ = end;
    end_code_ = code;
    end_why_ = std::move(why);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_closed);
  }

  void fail_handshake(std::string why) { finish(End::HandshakeFailed, 0, std::move(why)); }

  // The connection broke: during the handshake that is a failed handshake, once open it is a cut
  // (1006), after our Close it is the end we asked for.
  void broken(const std::string& what) {
    switch (state_) {
      case State::Connecting:
      case State::Handshake:
        fail_handshake(what);
        return;
      case State::Open:
        if (close_after_flush_) {
          finish(End::ServerClosed, end_code_pending_);
        } else {
          loader_.error(what);
          finish(End::ServerClosed, kCloseAbnormal);
        }
        return;
      case State::CloseSent:
        if (loader_.options_.mode == Mode::Connect && loader_.phase_ == Loader::Phase::Window) {
          loader_.error("close_unanswered");
        }
        finish(End::Ours);
        return;
      case State::Closed:
        return;
    }
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* self = static_cast<Conn*>(req->data);
    if (status == UV_ECANCELED || self->state_ == State::Closed) {
      return;
    }
    if (status < 0) {
      self->fail_handshake("connect: " + uv_error_text(status));
      return;
    }
    uv_tcp_nodelay(&self->tcp_, 1);
    std::array<uint8_t, 16> raw{};
    const uint64_t a = next_random();
    const uint64_t b = next_random();
    std::memcpy(raw.data(), &a, 8);
    std::memcpy(raw.data() + 8, &b, 8);
    const std::string key = base64(raw);
    self->accept_ = websocket_accept(key);
    self->out_ = upgrade_request(self->loader_.options_.host_header, self->loader_.options_.path, key,
                                 self->loader_.headers_for(self->index_));
    self->state_ = State::Handshake;
    if (const int rc = uv_read_start(self->stream(), on_alloc, on_read); rc != 0) {
      self->fail_handshake("read: " + uv_error_text(rc));
      return;
    }
    self->flush();
  }

  static void on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
    *buf = static_cast<Conn*>(handle->data)->loader_.read_buffer();
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Conn*>(s->data);
    if (self->state_ == State::Closed) {
      return;
    }
    if (nread < 0) {
      self->broken(nread == UV_EOF ? "eof" : uv_error_text(static_cast<int>(nread)));
      return;
    }
    if (nread > 0) {
      self->consume(reinterpret_cast<const uint8_t*>(buf->base), static_cast<std::size_t>(nread));
    }
  }

  static void on_write(uv_write_t* req, int status) {
    auto* self = static_cast<Conn*>(req->data);
    self->writing_ = false;
    if (status == UV_ECANCELED || self->state_ == State::Closed) {
      return;
    }
    if (status < 0) {
      self->broken("write_" + uv_error_text(status));
      return;
    }
    self->flush();
  }

  static void on_closed(uv_handle_t* handle) {
    auto* self = static_cast<Conn*>(handle->data);
    self->loader_.on_gone(self, self->end_ == End::ServerClosed);
    delete self;
  }

  void flush() {
    if (state_ == State::Closed || state_ == State::Connecting || writing_) {
      return;
    }
    if (!out_.empty()) {
      uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
      int n = uv_try_write(stream(), &buf, 1);
      if (n == UV_EAGAIN) {
        n = 0;
      }
      if (n < 0) {
        broken("write_" + uv_error_text(n));
        return;
      }
      if (static_cast<std::size_t>(n) < out_.size()) {
        pending_.assign(out_.data() + n, out_.size() - static_cast<std::size_t>(n));
        out_.clear();
        writing_ = true;
        buf = uv_buf_init(pending_.data(), static_cast<unsigned>(pending_.size()));
        if (const int rc = uv_write(&write_req_, stream(), &buf, 1, on_write); rc != 0) {
          writing_ = false;
          broken("write_" + uv_error_text(rc));
        }
        return;
      }
      out_.clear();
    }
    if (close_after_flush_) {
      finish(End::ServerClosed, end_code_pending_);
    }
  }

  void consume(const uint8_t* data, std::size_t n) {
    now_ns_ = uv_hrtime();
    if (state_ == State::Handshake) {
      in_.append(reinterpret_cast<const char*>(data), n);
      const ResponseCheck check = check_response(in_, accept_);
      if (check.status == HeadCheck::Incomplete) {
        if (in_.size() > kMaxResponseHead) {
          fail_handshake("response head too large");
        }
        return;
      }
      if (check.status == HeadCheck::Refused) {
        fail_handshake(check.error);
        return;
      }
      in_.erase(0, check.consumed);
      state_ = State::Open;
      loader_.on_open(this, now_ns_ - started_ns_, reconnect_);
      if (state_ == State::Closed) {
        return;
      }
      if (!in_.empty()) {
        const std::size_t used = process(reinterpret_cast<const uint8_t*>(in_.data()), in_.size());
        if (state_ != State::Closed) {
          in_.erase(0, used);
        }
      }
    } else if (in_.empty()) {
      const std::size_t used = process(data, n);
      if (state_ != State::Closed && used < n) {
        in_.assign(reinterpret_cast<const char*>(data + used), n - used);
      }
    } else {
      in_.append(reinterpret_cast<const char*>(data), n);
      const std::size_t used = process(reinterpret_cast<const uint8_t*>(in_.data()), in_.size());
      if (state_ != State::Closed) {
        in_.erase(0, used);
      }
    }
    flush();
  }

  // Handles every complete frame at DATA; returns the bytes consumed.
  std::size_t process(const uint8_t* data, std::size_t n) {
    std::size_t pos = 0;
    while ((state_ == State::Open && !close_after_flush_) || state_ == State::CloseSent) {
      FrameHeader h;
      const auto status = decode_header(std::span(data + pos, n - pos), h);
      if (status == DecodeStatus::NeedMore) {
        break;
      }
      if (status == DecodeStatus::Invalid || h.masked || h.rsv != 0) {
        loader_.error(h.masked ? "masked_server_frame" : "bad_frame");
        broken("protocol");
        return pos;
      }
      const uint64_t frame_size = h.header_size + h.payload_length;
      if (n - pos < frame_size) {
        if (in_.capacity() < frame_size) {
          in_.reserve(static_cast<std::size_t>(frame_size));
        }
        break;
      }
      const std::span<const uint8_t> payload(data + pos + h.header_size, static_cast<std::size_t>(h.payload_length));
      pos += static_cast<std::size_t>(frame_size);
      on_frame(h, payload);
    }
    return pos;
  }

  void on_frame(const FrameHeader& h, std::span<const uint8_t> payload) {
    switch (h.opcode) {
      case opcode::kText:
      case opcode::kBinary:
        if (!h.fin) {
          loader_.error("fragmented_message");
        }
        on_message(payload);
        return;
      case opcode::kContinuation:
        loader_.error("fragmented_message");
        return;
      case opcode::kPing:
        if (state_ == State::Open) {
          append_frame(out_, opcode::kPong, payload, static_cast<uint32_t>(next_random()));
        }
        return;
      case opcode::kPong:
        return;
      case opcode::kClose: {
        const uint16_t code = payload.size() >= 2 ? static_cast<uint16_t>((payload[0] << 8U) | payload[1]) : kCloseNoStatus;
        if (state_ == State::CloseSent) {
          if (loader_.options_.mode == Mode::Connect) {
            loader_.on_cycle(now_ns_ - started_ns_);
          }
          finish(End::Ours);
          return;
        }
        // The server starts the close: answer with its code, then end once the answer is written.
        append_frame(out_, opcode::kClose, payload.subspan(0, std::min<std::size_t>(payload.size(), 2)),
                     static_cast<uint32_t>(next_random()));
        close_after_flush_ = true;
        end_code_pending_ = code;
        return;
      }
      default:
        loader_.error("bad_opcode");
        broken("protocol");
        return;
    }
  }

  void send_message() {
    const std::size_t size = loader_.options_.size;
    const uint64_t seq = next_send_seq_++;
    std::vector<uint8_t>& scratch = loader_.payload_template_;
    // The template's first bytes are overwritten with this message's tag and restored after use.
    std::array<uint8_t, kTagSize> saved{};
    const std::size_t tag = std::min(size, kTagSize);
    std::memcpy(saved.data(), scratch.data(), tag);
    write_tag(scratch.data(), size, static_cast<uint32_t>(index_), seq);
    append_frame(out_, opcode::kBinary, std::span(scratch.data(), size), static_cast<uint32_t>(next_random()));
    std::memcpy(scratch.data(), saved.data(), tag);
    if (send_times_.empty()) {
      send_times_.resize(static_cast<std::size_t>(std::max(1, loader_.options_.inflight)));
    }
    send_times_[seq % send_times_.size()] = now_ns_;
  }

  void on_message(std::span<const uint8_t> payload) {
    if (state_ != State::Open || close_after_flush_) {
      return;  // echoes still on their way when we started to close
    }
    if (next_recv_seq_ >= next_send_seq_) {
      loader_.error("unexpected_message");
      return;
    }
    const uint64_t seq = next_recv_seq_++;
    const char* verdict = verify_echo(payload, loader_.options_.size, loader_.payload_template_,
                                      static_cast<uint32_t>(index_), seq);
    const bool ok = *verdict == '\0';
    if (!ok) {
      loader_.error(verdict);
    }
    if (probing_) {
      probing_ = false;
      loader_.on_probe(ok);
      return;
    }
    loader_.on_echo(now_ns_ - send_times_[seq % send_times_.size()], payload.size());
    switch (loader_.options_.mode) {
      case Mode::PingPong:
      case Mode::Stream:
        if (loader_.traffic()) {
          send_message();
        }
        return;
      case Mode::Connect:
        close_gracefully();
        return;
      case Mode::Hold:
        return;
    }
  }

  Loader& loader_;
  int index_;
  bool reconnect_;
  State state_ = State::Connecting;
  End end_ = End::Ours;
  uint16_t end_code_ = 0;
  std::string end_why_;
  bool writing_ = false;
  bool close_after_flush_ = false;  // the server sent Close: end once our answer is written
  uint16_t end_code_pending_ = 0;
  bool probing_ = false;
  uint64_t started_ns_ = 0;
  uint64_t now_ns_ = 0;
  uint64_t next_send_seq_ = 0;
  uint64_t next_recv_seq_ = 0;
  std::vector<uint64_t> send_times_;  // ring of send times of the messages in flight
  std::string accept_;
  std::string in_;       // bytes not yet processed (a partial frame or response head)
  std::string out_;      // bytes to write next
  std::string pending_;  // bytes owned by the write request in flight
  uv_tcp_t tcp_{};
  uv_connect_t connect_req_{};
  uv_write_t write_req_{};
};

bool is_verification_error(const std::string& kind) {
  return kind == "echo_corrupted" || kind == "echo_reordered" || kind == "echo_misrouted" ||
         kind == "unexpected_message";
}

void Report::merge(const Report& o) {
  connected_at_start += o.connected_at_start;
  live_at_end += o.live_at_end;
  messages += o.messages;
  bytes += o.bytes;
  upgrades += o.upgrades;
  cycles += o.cycles;
  reconnects += o.reconnects;
  probed += o.probed;
  probe_ok += o.probe_ok;
  latency.merge(o.latency);
  handshake.merge(o.handshake);
  for (const auto& [kind, n] : o.errors) {
    errors[kind] += n;
  }
  for (const auto& [code, n] : o.closes) {
    closes[code] += n;
  }
  if (timeline.size() < o.timeline.size()) {
    timeline.resize(o.timeline.size());
  }
  for (std::size_t i = 0; i < o.timeline.size(); ++i) {
    timeline[i].closes += o.timeline[i].closes;
    timeline[i].reconnects += o.timeline[i].reconnects;
  }
}

Loader::Loader(const Options& options, Share share, const sockaddr_storage& target, Sync& sync)
    : options_(options), share_(share), target_(target), sync_(sync) {
  phase_timer_.data = this;
  tick_.data = this;
  async_.data = this;
  payload_template_.resize(options_.size);
  for (std::size_t i = 0; i < payload_template_.size(); ++i) {
    payload_template_[i] = static_cast<uint8_t>((i * 31 + 7) & 0xFFU);
  }
  source_.sin_family = AF_INET;
}

void Loader::thread_main() {
  g_rand_state ^= uv_hrtime() ^ (static_cast<uint64_t>(share_.thread + 1) * 0x9E3779B97F4A7C15ULL);
  uv_loop_init(&loop_);
  uv_timer_init(&loop_, &phase_timer_);
  uv_timer_init(&loop_, &tick_);
  uv_async_init(&loop_, &async_, on_command);
  {
    const std::lock_guard lock(commands_mutex_);
    async_open_ = true;
  }
  start();
  // Commands queued before the async handle existed.
  run_commands();
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  const std::lock_guard lock(sync_.mutex);
  ++sync_.finished;
  sync_.changed.notify_all();
}

void Loader::command(Command c) {
  const std::lock_guard lock(commands_mutex_);
  commands_.push_back(c);
  if (async_open_) {
    uv_async_send(&async_);
  }
}

void Loader::on_command(uv_async_t* a) { static_cast<Loader*>(a->data)->run_commands(); }

void Loader::run_commands() {
  std::vector<Command> commands;
  {
    const std::lock_guard lock(commands_mutex_);
    commands.swap(commands_);
  }
  for (const Command c : commands) {
    switch (c) {
      case Command::StartTraffic:
        if (phase_ == Phase::Ready) {
          start_traffic();
        }
        break;
      case Command::BeginWindow:
        if (phase_ == Phase::Ready || phase_ == Phase::Warmup) {
          begin_window();
        }
        break;
      case Command::EndWindow:
        if (phase_ == Phase::Window) {
          end_window();
        }
        break;
      case Command::Abort:
        if (phase_ != Phase::Teardown && phase_ != Phase::Done) {
          fail_setup("aborted", false);
        }
        break;
    }
  }
}

void Loader::start() {
  run_start_ns_ = uv_hrtime();
  if (share_.rate > 0 || options_.reconnect) {
    uv_timer_start(&tick_, on_tick, kTickMs, kTickMs);
  }
  if (options_.mode == Mode::Connect) {
    setup_done();
    return;
  }
  phase_ = Phase::Setup;
  uv_timer_start(&phase_timer_, on_phase_timer, static_cast<uint64_t>(options_.setup_timeout * 1000), 0);
  launch_more();
}

std::vector<std::string> Loader::headers_for(int index) const {
  std::vector<std::string> out;
  out.reserve(options_.headers.size());
  const std::string idx = std::to_string(index);
  for (const auto& tmpl : options_.headers) {
    std::string line;
    std::size_t pos = 0;
    while (true) {
      const auto at = tmpl.find("{i}", pos);
      if (at == std::string::npos) {
        line.append(tmpl, pos);
        break;
      }
      line.append(tmpl, pos, at - pos);
      line += idx;
      pos = at + 3;
    }
    out.push_back(std::move(line));
  }
  return out;
}

const sockaddr* Loader::source_for(int index) {
  if (options_.sources <= 0) {
    return nullptr;
  }
  // 127.0.0.(1 + i % sources), in network byte order.
  const auto last = static_cast<uint32_t>(1 + index % options_.sources);
  source_.sin_addr.s_addr = htonl((127U << 24U) | last);
  source_.sin_port = 0;
  return reinterpret_cast<const sockaddr*>(&source_);
}

void Loader::launch(int index, bool reconnect) {
  auto* conn = new Conn(*this, index, reconnect);
  live_.insert(conn);
  ++connecting_;
  conn->start(reinterpret_cast<const sockaddr*>(&target_), source_for(index));
}

// Connection k of this loader has the global index thread + k * threads.
void Loader::launch_more() {
  const double elapsed = static_cast<double>(uv_hrtime() - run_start_ns_) / 1e9;
  if (phase_ == Phase::Setup) {
    while (launched_ < share_.connections && connecting_ < share_.setup_concurrency &&
           (share_.rate <= 0 || launched_ < static_cast<int>(share_.rate * elapsed) + 1)) {
      launch(share_.thread + share_.threads * launched_++, false);
    }
  } else if (options_.mode == Mode::Connect && phase_ == Phase::Window) {
    const double window_elapsed = static_cast<double>(uv_hrtime() - window_start_ns_) / 1e9;
    while (static_cast<int>(live_.size()) < share_.connections &&
           (share_.rate <= 0 || connect_launched_ < static_cast<uint64_t>(share_.rate * window_elapsed) + 1)) {
      const auto k = static_cast<int>(connect_launched_++ % 1000000);
      launch(share_.thread + share_.threads * k, false);
    }
  }
}

void Loader::on_open(Conn* conn, uint64_t handshake_ns, bool reconnected) {
  --connecting_;
  if (options_.mode == Mode::Connect) {
    if (counting()) {
      ++report_.upgrades;
      report_.handshake.record(handshake_ns);
    }
    conn->start_cycle();
    return;
  }
  if (reconnected) {
    if (counting()) {
      ++report_.reconnects;
      ++report_.upgrades;
      report_.handshake.record(handshake_ns);
      bin_add(false);
    }
    if (traffic()) {
      conn->start_traffic();
    }
    return;
  }
  ++opened_;
  report_.handshake.record(handshake_ns);
  if (phase_ != Phase::Setup) {
    return;
  }
  if (opened_ >= share_.connections) {
    setup_done();
  } else {
    launch_more();
  }
}

void Loader::on_handshake_failed(Conn* conn, const std::string& why) {
  --connecting_;
  if (phase_ == Phase::Setup && !conn->reconnected()) {
    fail_setup("connection " + std::to_string(conn->index()) + ": " + why, true);
    return;
  }
  if (phase_ == Phase::Teardown || phase_ == Phase::Done || phase_ == Phase::Verify) {
    return;
  }
  error(std::string(options_.mode == Mode::Connect ? "handshake: " : "reconnect: ") + why);
  if (options_.mode == Mode::Connect) {
    launch_more();
  } else if (conn->reconnected()) {
    retry_.push_back(conn->index());
  }
}

void Loader::on_server_close(uint16_t code) {
  ++report_.closes[code];
  bin_add(true);
}

void Loader::on_echo(uint64_t rtt_ns, std::size_t bytes) {
  if (!counting()) {
    return;
  }
  ++report_.messages;
  report_.bytes += bytes;
  if (options_.mode != Mode::Connect) {
    report_.latency.record(rtt_ns);
  }
}

void Loader::on_cycle(uint64_t cycle_ns) {
  if (!counting()) {
    return;
  }
  ++report_.cycles;
  report_.latency.record(cycle_ns);
}

void Loader::on_probe(bool ok) {
  ++probes_answered_;
  if (ok) {
    ++report_.probe_ok;
  }
  if (phase_ == Phase::Verify && probes_answered_ >= report_.probed) {
    begin_teardown();
  }
}

void Loader::on_gone(Conn* conn, bool by_server) {
  live_.erase(conn);
  switch (conn->end()) {
    case Conn::End::HandshakeFailed:
      on_handshake_failed(conn, conn->end_why());
      break;
    case Conn::End::ServerClosed:
      if (by_server && phase_ != Phase::Teardown && phase_ != Phase::Done) {
        on_server_close(conn->end_code());
        if (options_.reconnect && traffic()) {
          launch(conn->index(), true);
        } else if (options_.mode == Mode::Connect) {
          launch_more();
        }
      }
      break;
    case Conn::End::Ours:
      if (options_.mode == Mode::Connect) {
        launch_more();
      }
      break;
  }
  maybe_done();
}

void Loader::error(const std::string& kind) { ++report_.errors[kind]; }

// This loader's share is open: it waits (phase Ready) for the coordinator's next command.
void Loader::setup_done() {
  uv_timer_stop(&phase_timer_);
  phase_ = Phase::Ready;
  report_.connected_at_start = static_cast<int>(live_.size());
  const std::lock_guard lock(sync_.mutex);
  ++sync_.ready;
  sync_.changed.notify_all();
}

void Loader::start_traffic() {
  phase_ = Phase::Warmup;
  if (options_.mode == Mode::PingPong || options_.mode == Mode::Stream) {
    for (Conn* c : std::vector<Conn*>(live_.begin(), live_.end())) {
      c->start_traffic();
    }
  }
}

void Loader::begin_window() {
  if (phase_ == Phase::Ready) {
    start_traffic();
  }
  phase_ = Phase::Window;
  report_.messages = 0;
  report_.bytes = 0;
  report_.latency.clear();
  if (options_.mode == Mode::Connect) {
    report_.handshake.clear();
  }
  window_start_ns_ = uv_hrtime();
  if (options_.interval_ms > 0) {
    const auto bins = static_cast<std::size_t>(std::ceil(options_.duration * 1000.0 / options_.interval_ms));
    report_.timeline.assign(std::max<std::size_t>(bins, 1), TimelineBin{});
  }
  if (options_.mode == Mode::Connect) {
    launch_more();
  }
}

void Loader::end_window() {
  int open = 0;
  for (Conn* c : live_) {
    open += c->is_open() ? 1 : 0;
  }
  report_.live_at_end = open;
  if (options_.verify_end && options_.size > 0 && options_.mode == Mode::Hold && open > 0) {
    phase_ = Phase::Verify;
    report_.probed = static_cast<uint64_t>(open);
    for (Conn* c : std::vector<Conn*>(live_.begin(), live_.end())) {
      c->probe();
    }
    uv_timer_start(&phase_timer_, on_phase_timer, kVerifyWaitMs, 0);
    return;
  }
  begin_teardown();
}

void Loader::begin_teardown() {
  if (phase_ == Phase::Teardown || phase_ == Phase::Done) {
    return;
  }
  phase_ = Phase::Teardown;
  uv_timer_stop(&tick_);
  for (Conn* c : std::vector<Conn*>(live_.begin(), live_.end())) {
    c->close_gracefully();
  }
  uv_timer_start(&phase_timer_, on_phase_timer, kTeardownWaitMs, 0);
  maybe_done();
}

void Loader::maybe_done() {
  if (phase_ != Phase::Teardown || !live_.empty()) {
    return;
  }
  phase_ = Phase::Done;
  uv_close(reinterpret_cast<uv_handle_t*>(&phase_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  const std::lock_guard lock(commands_mutex_);
  async_open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

// Ends this loader at once. REPORT: the failure is this loader's own (the coordinator is told, and
// aborts the others); otherwise the coordinator asked for it.
void Loader::fail_setup(const std::string& why, bool report) {
  if (report) {
    const std::lock_guard lock(sync_.mutex);
    if (sync_.fatal.empty()) {
      sync_.fatal = why;
    }
    sync_.changed.notify_all();
  }
  uv_timer_stop(&phase_timer_);
  phase_ = Phase::Teardown;
  uv_timer_stop(&tick_);
  for (Conn* c : std::vector<Conn*>(live_.begin(), live_.end())) {
    c->abort();
  }
  uv_timer_start(&phase_timer_, on_phase_timer, kTeardownWaitMs, 0);
  maybe_done();
}

void Loader::on_phase_timer(uv_timer_t* t) {
  auto* self = static_cast<Loader*>(t->data);
  switch (self->phase_) {
    case Phase::Setup:
      self->fail_setup("setup timed out: " + std::to_string(self->opened_) + " of " +
                           std::to_string(self->share_.connections) + " connections of thread " +
                           std::to_string(self->share_.thread) + " open after " +
                           std::to_string(self->options_.setup_timeout) + " s",
                       true);
      return;
    case Phase::Verify:
      self->begin_teardown();
      return;
    case Phase::Teardown:
      for (Conn* c : std::vector<Conn*>(self->live_.begin(), self->live_.end())) {
        c->abort();
      }
      return;
    case Phase::Ready:
    case Phase::Warmup:
    case Phase::Window:
    case Phase::Done:
      return;
  }
}

void Loader::on_tick(uv_timer_t* t) {
  auto* self = static_cast<Loader*>(t->data);
  self->launch_more();
  if (!self->retry_.empty() && self->traffic()) {
    // Reconnects that failed (503 while the pool has no backend, refused connect): retried slowly.
    const uint64_t now = uv_hrtime();
    if (now - self->last_retry_ns_ >= kRetryDelayNs) {
      self->last_retry_ns_ = now;
      std::vector<int> retry;
      retry.swap(self->retry_);
      for (const int index : retry) {
        self->launch(index, true);
      }
    }
  }
}

void Loader::bin_add(bool close) {
  if (!counting() || report_.timeline.empty()) {
    return;
  }
  const uint64_t bin = (uv_hrtime() - window_start_ns_) / (static_cast<uint64_t>(options_.interval_ms) * 1000000ULL);
  if (bin >= report_.timeline.size()) {
    report_.timeline.resize(static_cast<std::size_t>(bin) + 1);
  }
  auto& b = report_.timeline[static_cast<std::size_t>(bin)];
  (close ? b.closes : b.reconnects) += 1;
}

// -- the coordinator -------------------------------------------------------------------------------

namespace {

void sample_pids(Report& report, int which) {
  for (auto& p : report.pids) {
    const ProcSample s = sample_process(p.pid);
    (which == 0 ? p.before : which == 1 ? p.start : p.end) = s;
  }
}

}  // namespace

int run_load(const Options& given, Report& report, std::string& fatal) {
  Options options = given;
  if (options.warmup < 0) {
    options.warmup = (options.mode == Mode::PingPong || options.mode == Mode::Stream) ? 1.0 : 0.0;
  }
  const int threads = std::max(1, std::min(options.threads, options.connections));
  report.threads = threads;

  addrinfo hints{};
  hints.ai_family = options.sources > 0 ? AF_INET : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const std::string port = std::to_string(options.port);
  if (const int rc = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &result); rc != 0 || result == nullptr) {
    fatal = "cannot resolve " + options.host + ": " + gai_strerror(rc);
    return 1;
  }
  sockaddr_storage target{};
  std::memcpy(&target, result->ai_addr, result->ai_addrlen);
  freeaddrinfo(result);

  report.pids.resize(options.pids.size());
  for (std::size_t i = 0; i < options.pids.size(); ++i) {
    report.pids[i].pid = options.pids[i];
  }
  sample_pids(report, 0);

  Sync sync;
  std::vector<std::unique_ptr<Loader>> loaders;
  for (int t = 0; t < threads; ++t) {
    Share share;
    share.thread = t;
    share.threads = threads;
    share.connections = (options.connections - t + threads - 1) / threads;
    share.rate = options.rate / threads;
    share.setup_concurrency = std::max(1, options.setup_concurrency / threads);
    loaders.push_back(std::make_unique<Loader>(options, share, target, sync));
  }
  std::vector<std::thread> workers;
  workers.reserve(loaders.size());
  for (auto& l : loaders) {
    workers.emplace_back([loader = l.get()] { loader->thread_main(); });
  }
  const auto broadcast = [&](Loader::Command c) {
    for (auto& l : loaders) {
      l->command(c);
    }
  };
  const auto sleep_s = [](double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); };

  bool setup_ok = false;
  {
    std::unique_lock lock(sync.mutex);
    // The loaders time their own setup out; this is only a guard.
    sync.changed.wait_for(lock, std::chrono::duration<double>(options.setup_timeout + 10.0),
                          [&] { return sync.ready == threads || !sync.fatal.empty(); });
    setup_ok = sync.ready == threads && sync.fatal.empty();
    if (!setup_ok) {
      fatal = sync.fatal.empty() ? std::string("setup did not finish") : sync.fatal;
    }
  }
  if (setup_ok) {
    if (options.mode == Mode::PingPong || options.mode == Mode::Stream) {
      broadcast(Loader::Command::StartTraffic);
      if (options.warmup > 0) {
        sleep_s(options.warmup);
      }
    }
    sample_pids(report, 1);
    const uint64_t cpu_start = self_cpu_us();
    const uint64_t window_start = uv_hrtime();
    broadcast(Loader::Command::BeginWindow);
    int open = 0;
    for (auto& l : loaders) {
      open += l->opened();
    }
    std::fprintf(stderr, "wsbench: window started (%d connections open, %d threads)\n", open, threads);
    std::fflush(stderr);
    sleep_s(options.duration);
    broadcast(Loader::Command::EndWindow);
    report.window_s = static_cast<double>(uv_hrtime() - window_start) / 1e9;
    sample_pids(report, 2);
    report.client_cpu_us = self_cpu_us() - cpu_start;
  } else {
    broadcast(Loader::Command::Abort);
  }
  for (auto& w : workers) {
    w.join();
  }
  for (auto& l : loaders) {
    report.merge(l->report());
  }
  return setup_ok ? 0 : 1;
}

}  // namespace wsbench
