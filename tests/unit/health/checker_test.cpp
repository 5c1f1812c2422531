// The checker on a real loop against tiny local servers: results reach the backend state, every
// handle is closed after stop() (uv_loop_close succeeds), and reloads keep or restart probes.
#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <string>

#include "health/checker.h"
#include "health/log_sink.h"

using namespace ringway;
using namespace ringway::health;

namespace {

// Accepts connections; answers each one's first read with `answer` (then closes), or closes at
// once when `answer` is empty.
struct TestServer {
  uv_tcp_t tcp{};
  std::string answer;
  int port = 0;

  struct Conn {
    uv_tcp_t tcp{};
    uv_write_t write{};
    TestServer* server = nullptr;
    char buf[4096];
  };

  void start(uv_loop_t* loop) {
    uv_tcp_init(loop, &tcp);
    tcp.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&tcp, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&tcp), 16, on_connection) == 0);
    sockaddr_storage name{};
    int len = sizeof name;
    uv_tcp_getsockname(&tcp, reinterpret_cast<sockaddr*>(&name), &len);
    port = ntohs(reinterpret_cast<sockaddr_in*>(&name)->sin_port);
  }
  void stop() { uv_close(reinterpret_cast<uv_handle_t*>(&tcp), nullptr); }

  static void close_conn(Conn* c) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  }
  static void on_connection(uv_stream_t* server, int status) {
    if (status < 0) return;
    auto* c = new Conn;
    c->server = static_cast<TestServer*>(server->data);
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0 || c->server->answer.empty()) {
      close_conn(c);
      return;
    }
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* b) { *b = uv_buf_init(static_cast<Conn*>(h->data)->buf, 4096); },
        [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
          auto* conn = static_cast<Conn*>(s->data);
          uv_read_stop(s);
          if (nread < 0) {
            close_conn(conn);
            return;
          }
          uv_buf_t out = uv_buf_init(conn->server->answer.data(), static_cast<unsigned>(conn->server->answer.size()));
          uv_write(&conn->write, s, &out, 1, [](uv_write_t* w, int) { close_conn(static_cast<Conn*>(w->handle->data)); });
        });
  }
};

sockaddr_storage local(int port) {
  sockaddr_storage out{};
  uv_ip4_addr("127.0.0.1", port, reinterpret_cast<sockaddr_in*>(&out));
  return out;
}

// A port where nobody listens (bound, then closed).
int closed_port(uv_loop_t* loop) {
  TestServer s;
  s.start(loop);
  s.stop();
  uv_run(loop, UV_RUN_NOWAIT);
  return s.port;
}

conf::HealthCheck fast(conf::CheckType type) {
  conf::HealthCheck c;
  c.type = type;
  c.interval = conf::Duration(40);
  c.timeout = conf::Duration(30);
  c.rise = 1;
  c.fall = 1;
  return c;
}

ProbeTarget target(const std::string& name, int port, std::optional<conf::HealthCheck> check) {
  ProbeTarget t;
  t.pool = "pool";
  t.backend = name;
  t.address = local(port);
  t.host = "127.0.0.1:" + std::to_string(port);
  t.state = std::make_shared<BackendState>();
  t.state->health = Health::Unknown;
  t.check = std::move(check);
  return t;
}

// Runs the loop until `done` or a 5 s tripwire; returns whether `done` became true.
bool run_until(uv_loop_t* loop, const std::function<bool()>& done) {
  struct Poll {
    uv_timer_t timer{};
    const std::function<bool()>* done;
    bool ok = false;
    uint64_t deadline;
  } poll{{}, &done, false, uv_now(loop) + 5000};
  uv_timer_init(loop, &poll.timer);
  poll.timer.data = &poll;
  uv_timer_start(
      &poll.timer,
      [](uv_timer_t* t) {
        auto* p = static_cast<Poll*>(t->data);
        if ((*p->done)()) p->ok = true;
        if (p->ok || uv_now(t->loop) > p->deadline) uv_stop(t->loop);
      },
      5, 5);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll.timer), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return poll.ok;
}

struct Quiet {
  Quiet() { set_log_sink([](LogLevel, std::string_view, std::initializer_list<LogField>) {}); }
  ~Quiet() { set_log_sink(nullptr); }
};

}  // namespace

TEST_CASE("checks reach the state: tcp up, connect refused, http status; stop leaves no handle") {
  Quiet quiet;
  uv_loop_t loop;
  uv_loop_init(&loop);
  TestServer tcp_ok;
  tcp_ok.start(&loop);
  TestServer http_503;
  http_503.answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
  http_503.start(&loop);
  TestServer http_ok;
  http_ok.answer = "HTTP/1.1 204 No Content\r\n\r\n";
  http_ok.start(&loop);
  const int nobody = closed_port(&loop);

  {
    Checker checker(&loop);
    std::vector<ProbeTarget> targets = {target("tcp-ok", tcp_ok.port, fast(conf::CheckType::Tcp)),
                                        target("refused", nobody, fast(conf::CheckType::Tcp)),
                                        target("http-503", http_503.port, fast(conf::CheckType::Http)),
                                        target("http-ok", http_ok.port, fast(conf::CheckType::Http))};
    std::vector<std::shared_ptr<BackendState>> states;
    for (const auto& t : targets) states.push_back(t.state);
    checker.apply(targets);
    CHECK(checker.probe_count() == 4);
    const bool judged = run_until(&loop, [&] {
      for (const auto& s : states) {
        if (s->health.load() == Health::Unknown) return false;
      }
      return true;
    });
    REQUIRE(judged);
    CHECK(states[0]->health.load() == Health::Up);
    CHECK(states[0]->check.snapshot().last == "ok");
    CHECK(states[1]->health.load() == Health::Down);
    CHECK(states[1]->check.snapshot().last == "connect refused");
    CHECK(states[2]->health.load() == Health::Down);
    CHECK(states[2]->check.snapshot().last == "status 503");
    CHECK(states[3]->health.load() == Health::Up);
    CHECK(states[3]->check.snapshot().since_unix_ms > 0);

    checker.stop();
    CHECK(checker.probe_count() == 0);
    checker.apply(targets);  // ignored after stop
    CHECK(checker.probe_count() == 0);
  }
  for (TestServer* s : {&tcp_ok, &http_503, &http_ok}) s->stop();
  uv_run(&loop, UV_RUN_DEFAULT);  // returns only once every handle is closed
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a reload keeps a probe with unchanged settings, and removing checks brings a backend up") {
  Quiet quiet;
  uv_loop_t loop;
  uv_loop_init(&loop);
  const int nobody = closed_port(&loop);
  {
    Checker checker(&loop);
    ProbeTarget t = target("b", nobody, fast(conf::CheckType::Tcp));
    auto state = t.state;
    checker.apply({t});
    REQUIRE(run_until(&loop, [&] { return state->health.load() == Health::Down; }));
    const uint64_t checks = state->check.snapshot().checks;

    // Same settings: the probe (and its count) goes on.
    checker.apply({t});
    CHECK(checker.probe_count() == 1);
    REQUIRE(run_until(&loop, [&] { return state->check.snapshot().checks > checks; }));
    CHECK(state->health.load() == Health::Down);

    // No checks any more: assumed up at once, probe gone.
    ProbeTarget unchecked = t;
    unchecked.check.reset();
    checker.apply({unchecked});
    CHECK(checker.probe_count() == 0);
    CHECK(state->health.load() == Health::Up);

    // Passive turned off clears an ejection.
    state->ejected_until_ms = ~uint64_t{0};
    checker.apply({unchecked});
    CHECK(state->usable(uv_now(&loop)));

    // A backend that left the configuration loses its probe.
    checker.apply({t});
    CHECK(checker.probe_count() == 1);
    checker.apply({});
    CHECK(checker.probe_count() == 0);
    checker.stop();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
