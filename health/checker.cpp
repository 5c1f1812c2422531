#include "health/checker.h"

#include <array>
#include <chrono>
#include <cstring>
#include <set>

#include "health/log_sink.h"
#include "health/passive.h"
#include "health/probe_wire.h"
#include "health/rise_fall.h"
#include "proxy/http/proxy_header.h"
#include "proxy/http/request_head.h"
#include "proxy/http/response_head.h"

namespace ringway::health {
namespace {

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* type_name(conf::CheckType type) {
  switch (type) {
    case conf::CheckType::Tcp: return "tcp";
    case conf::CheckType::Http: return "http";
    case conf::CheckType::WebSocket: return "websocket";
  }
  return "tcp";
}

bool same_check(const conf::HealthCheck& a, const conf::HealthCheck& b) {
  return a.type == b.type && a.path == b.path && a.interval == b.interval && a.timeout == b.timeout &&
         a.rise == b.rise && a.fall == b.fall;
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  const size_t size = a.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  return std::memcmp(&a, &b, size) == 0;
}

std::string connect_reason(int status) {
  if (status == UV_ECONNREFUSED) return "connect refused";
  if (status == UV_ETIMEDOUT) return "timeout";
  return std::string("connect failed: ") + uv_strerror(status);
}

std::string identity(const std::string& pool, const std::string& backend) { return pool + '\0' + backend; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// One check of one backend: connect, maybe a request and its answer, maybe a ping and its pong.

struct Checker::Attempt {
  enum class Stage : uint8_t { Connecting, AwaitingAnswer, AwaitingPong, Closing, Done };

  struct WriteOp {
    uv_write_t req{};
    std::string bytes;
    Attempt* attempt = nullptr;
  };

  Checker* checker;
  Probe* probe;  // null once the result is reported or the probe stopped
  conf::CheckType type;
  uint64_t timeout_ms;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_connect_t connect_req{};
  int open = 0;
  Stage stage = Stage::Connecting;
  std::string deferred;  // a failure found inside a call, delivered on the next loop tick
  std::string key;       // websocket: Sec-WebSocket-Key
  std::array<uint8_t, 8> ping{};
  http::ResponseParser response;
  std::unique_ptr<CheckFrameReader> frames;
  std::array<char, 4096> slab{};

  Attempt(Checker* c, Probe* p, conf::CheckType t, uint64_t timeout) : checker(c), probe(p), type(t), timeout_ms(timeout) {}

  void start(uv_loop_t* loop, const sockaddr_storage& address) {
    uv_tcp_init(loop, &tcp);
    uv_timer_init(loop, &timer);
    tcp.data = this;
    timer.data = this;
    open = 2;
    uv_timer_start(&timer, [](uv_timer_t* t) { static_cast<Attempt*>(t->data)->on_timer(); }, timeout_ms, 0);
    const int rc = uv_tcp_connect(&connect_req, &tcp, reinterpret_cast<const sockaddr*>(&address),
                                  [](uv_connect_t* req, int status) {
                                    static_cast<Attempt*>(req->handle->data)->on_connected(status);
                                  });
    if (rc != 0) fail_soon(connect_reason(rc));
  }

  void fail_soon(std::string reason) {
    deferred = std::move(reason);
    uv_timer_start(&timer, [](uv_timer_t* t) { static_cast<Attempt*>(t->data)->on_timer(); }, 0, 0);
  }

  void on_timer() {
    if (!deferred.empty()) {
      fail(deferred);
      return;
    }
    switch (stage) {
      case Stage::Connecting:
      case Stage::AwaitingAnswer:
        fail("timeout");
        return;
      case Stage::AwaitingPong:
        fail("no pong");
        return;
      case Stage::Closing:
      case Stage::Done:
        close();
        return;
    }
  }

  void on_connected(int status) {
    if (status == UV_ECANCELED || stage != Stage::Connecting) return;
    if (status < 0) {
      fail(connect_reason(status));
      return;
    }
    send_proxy_header();
    switch (type) {
      case conf::CheckType::Tcp:
        succeed();
        return;
      case conf::CheckType::Http:
        stage = Stage::AwaitingAnswer;
        send(http_check_request(probe_host(), probe_path()));
        break;
      case conf::CheckType::WebSocket: {
        std::array<uint8_t, 16> raw{};
        fill_random(raw);
        key = websocket_key(raw);
        stage = Stage::AwaitingAnswer;
        send(websocket_check_request(probe_host(), probe_path(), key));
        break;
      }
    }
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* a = static_cast<Attempt*>(h->data);
          *buf = uv_buf_init(a->slab.data(), static_cast<unsigned>(a->slab.size()));
        },
        [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
          static_cast<Attempt*>(s->data)->on_read(nread, buf);
        });
  }

  void on_read(ssize_t nread, const uv_buf_t* buf) {
    if (nread == 0 || stage == Stage::Done) return;
    if (nread < 0) {
      const std::string how = nread == UV_EOF ? "closed" : std::string("read failed: ") + uv_strerror(static_cast<int>(nread));
      switch (stage) {
        case Stage::AwaitingAnswer:
          fail(how + " without answering");
          return;
        case Stage::AwaitingPong:
          fail("no pong: " + how);
          return;
        default:
          close();
          return;
      }
    }
    const std::string_view chunk(buf->base, static_cast<size_t>(nread));
    if (stage == Stage::AwaitingAnswer) {
      on_answer(chunk);
      return;
    }
    frames->feed(std::span(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()));
    on_frames();
  }

  void on_answer(std::string_view chunk) {
    const http::ResponseParser::State state = response.feed(chunk);
    switch (state) {
      case http::ResponseParser::State::NeedMore:
        return;
      case http::ResponseParser::State::Error:
        fail("bad response");
        return;
      case http::ResponseParser::State::Upgraded:
      case http::ResponseParser::State::InBody:
      case http::ResponseParser::State::MessageDone:
        break;
    }
    if (type == conf::CheckType::Http) {
      const std::string verdict = judge_http_status(response.status_code());
      if (verdict.empty()) {
        succeed();
      } else {
        fail(verdict);
      }
      return;
    }
    if (state != http::ResponseParser::State::Upgraded) {
      fail("status " + std::to_string(response.status_code()));
      return;
    }
    if (response.accept_header() != http::websocket_accept(key)) {
      fail("bad accept");
      return;
    }
    // Upgraded: ping, and look at whatever came after the 101 as frames.
    stage = Stage::AwaitingPong;
    fill_random(ping);
    frames = std::make_unique<CheckFrameReader>(ping);
    send_frame(ws::Opcode::Ping, ping);
    const std::string_view rest = chunk.substr(response.consumed());
    frames->feed(std::span(reinterpret_cast<const uint8_t*>(rest.data()), rest.size()));
    on_frames();
  }

  void on_frames() {
    const CheckFrameReader::Seen& seen = frames->seen();
    if (stage == Stage::AwaitingPong) {
      if (seen.pong) {
        succeed();
      } else if (seen.error != ws::FrameError::None) {
        fail(std::string("bad frame: ") + ws::to_string(seen.error));
        return;
      } else if (seen.close) {
        fail("no pong: closed");
        return;
      }
    }
    if (stage == Stage::Closing && (seen.close || seen.error != ws::FrameError::None)) close();
  }

  // A good check. A websocket check then closes cleanly: our Close, the backend's, then TCP.
  void succeed() {
    report(true, "");
    if (type != conf::CheckType::WebSocket) {
      close();
      return;
    }
    stage = Stage::Closing;
    std::array<uint8_t, 4> mask{};
    fill_random(mask);
    std::array<uint8_t, 14 + 125> frame{};
    const size_t n = ws::write_close_frame(frame, 1000, "health check", &mask);
    send(std::string(reinterpret_cast<const char*>(frame.data()), n));
    uv_timer_start(&timer, [](uv_timer_t* t) { static_cast<Attempt*>(t->data)->on_timer(); }, timeout_ms, 0);
  }

  void fail(std::string reason) {
    report(false, std::move(reason));
    close();
  }

  void send_frame(ws::Opcode opcode, std::span<const uint8_t> payload) {
    std::array<uint8_t, 4> mask{};
    fill_random(mask);
    std::string bytes(ws::frame_size(payload.size(), true), '\0');
    const size_t n = ws::write_frame(std::span(reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()), opcode,
                                     payload, &mask);
    bytes.resize(n);
    send(std::move(bytes));
  }

  void send(std::string bytes) {
    auto* op = new WriteOp;
    op->bytes = std::move(bytes);
    op->attempt = this;
    op->req.data = op;
    uv_buf_t buf = uv_buf_init(op->bytes.data(), static_cast<unsigned>(op->bytes.size()));
    const int rc = uv_write(&op->req, reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1, [](uv_write_t* req, int status) {
      auto* done = static_cast<WriteOp*>(req->data);
      // Runs before the socket's close callback (a closing socket cancels its writes first).
      if (status < 0 && status != UV_ECANCELED && done->attempt->stage != Stage::Done) {
        done->attempt->fail_soon(std::string("write failed: ") + uv_strerror(status));
      }
      delete done;
    });
    if (rc != 0) {
      delete op;
      fail_soon(std::string("write failed: ") + uv_strerror(rc));
    }
  }

  template <size_t N>
  void fill_random(std::array<uint8_t, N>& out) {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t r = checker->schedule_.bits();
      std::memcpy(out.data() + i, &r, std::min<size_t>(8, N - i));
    }
  }

  const std::string& probe_host() const;
  const std::string& probe_path() const;
  void send_proxy_header();
  void report(bool ok, std::string reason);

  void close() {
    if (stage == Stage::Done) return;
    stage = Stage::Done;
    report(false, "check ended without a verdict");  // a no-op on every path that judged
    auto closed = [](uv_handle_t* h) {
      auto* a = static_cast<Attempt*>(h->data);
      if (--a->open > 0) return;
      if (a->checker != nullptr) a->checker->attempts_.erase(a);
      delete a;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), closed);
  }

  // The probe stopped: finish without telling anyone.
  void abandon() {
    probe = nullptr;
    close();
  }
};

// ---------------------------------------------------------------------------------------------
// One backend's checks, on its schedule.

struct Checker::Probe {
  Checker* checker;
  ProbeTarget target;
  conf::HealthCheck check;
  RiseFall machine;
  uv_timer_t timer{};
  Attempt* attempt = nullptr;  // the check in flight, until its result
  uint64_t next_due_ms = 0;

  Probe(Checker* c, ProbeTarget t)
      : checker(c),
        target(std::move(t)),
        check(*target.check),
        machine(check.rise, check.fall, target.state->health.load(std::memory_order_relaxed)) {}

  void start(uint64_t first_delay_ms) {
    uv_timer_init(checker->loop_, &timer);
    timer.data = this;
    arm(first_delay_ms);
  }

  void arm(uint64_t delay_ms) {
    uv_timer_start(&timer, [](uv_timer_t* t) { static_cast<Probe*>(t->data)->run_check(); }, delay_ms, 0);
  }

  void run_check() {
    const uint64_t now = uv_now(checker->loop_);
    next_due_ms = now + checker->schedule_.next_delay(static_cast<uint64_t>(check.interval.count()));
    attempt = new Attempt(checker, this, check.type, static_cast<uint64_t>(check.timeout.count()));
    checker->attempts_.insert(attempt);
    attempt->start(checker->loop_, target.address);
  }

  void on_result(bool ok, const std::string& reason) {
    attempt = nullptr;
    const bool changed = machine.record(ok);
    BackendState& state = *target.state;
    state.check.record(ok ? "ok" : reason, changed, unix_ms());
    if (changed) {
      const Health now = machine.health();
      state.health.store(now, std::memory_order_relaxed);
      emit(now == Health::Up ? LogLevel::Info : LogLevel::Warn, now == Health::Up ? "backend up" : "backend down",
           {{"pool", target.pool},
            {"backend", target.backend},
            {"check", type_name(check.type)},
            {"reason", ok ? std::string("ok") : reason}});
    }
    const uint64_t now_ms = uv_now(checker->loop_);
    arm(next_due_ms > now_ms ? next_due_ms - now_ms : 0);
  }

  void stop() {
    if (attempt != nullptr) {
      Attempt* a = attempt;
      attempt = nullptr;
      a->abandon();
    }
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) { delete static_cast<Probe*>(h->data); });
  }
};

const std::string& Checker::Attempt::probe_host() const { return probe->target.host; }
const std::string& Checker::Attempt::probe_path() const { return probe->check.path; }

// A LOCAL header: the check is ringway's own connection, not a client's. A tcp check sends it too
// (then closes), so that such a backend does not log every check as a broken header.
void Checker::Attempt::send_proxy_header() {
  switch (probe->target.send_proxy) {
    case conf::SendProxy::Off: return;
    case conf::SendProxy::V1: send(proxyproto::encode_proxy_v1_unknown()); return;
    case conf::SendProxy::V2: send(proxyproto::encode_proxy_v2_local()); return;
  }
}

void Checker::Attempt::report(bool ok, std::string reason) {
  if (probe == nullptr) return;
  Probe* p = probe;
  probe = nullptr;
  p->on_result(ok, reason);
}

// ---------------------------------------------------------------------------------------------

Checker::Checker(uv_loop_t* loop) : loop_(loop), schedule_(std::random_device{}()) {}

Checker::~Checker() {
  // stop() ran and the loop has run since, so nothing is left; guard against a missed stop anyway.
  for (Attempt* a : attempts_) a->checker = nullptr;
}

void Checker::apply(std::vector<ProbeTarget> targets) {
  if (stopped_) return;
  std::map<std::string, Probe*> next;
  for (ProbeTarget& t : targets) {
    const std::string key = identity(t.pool, t.backend);
    if (!t.passive) clear_ejection(*t.state);
    auto it = probes_.find(key);
    if (!t.check) {
      if (it != probes_.end()) {
        it->second->stop();
        probes_.erase(it);
      }
      if (t.state->health.exchange(Health::Up, std::memory_order_relaxed) != Health::Up) {
        t.state->check.mark_change(unix_ms());
        emit(LogLevel::Info, "backend up", {{"pool", t.pool}, {"backend", t.backend}, {"reason", "no health checks"}});
      }
      continue;
    }
    if (it != probes_.end()) {
      Probe* probe = it->second;
      probes_.erase(it);
      if (same_check(probe->check, *t.check) && same_address(probe->target.address, t.address) &&
          probe->target.state == t.state) {
        probe->target.host = t.host;
        probe->target.send_proxy = t.send_proxy;
        next.emplace(key, probe);
        continue;
      }
      probe->stop();  // new settings: a new probe, starting from the health the backend has now
    }
    auto* probe = new Probe(this, std::move(t));
    probe->start(schedule_.first_delay(static_cast<uint64_t>(probe->check.interval.count())));
    next.emplace(key, probe);
  }
  for (auto& [key, probe] : probes_) probe->stop();  // backends that left the configuration
  probes_ = std::move(next);
}

void Checker::stop() {
  stopped_ = true;
  for (auto& [key, probe] : probes_) probe->stop();
  probes_.clear();
  // Checks still closing (a websocket close handshake) end now rather than after their timeout.
  const std::set<Attempt*> left = attempts_;
  for (Attempt* a : left) a->abandon();
}

}  // namespace ringway::health
