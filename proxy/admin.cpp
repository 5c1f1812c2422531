#include "proxy/admin.h"

#include <memory>

#include "health/passive.h"
#include "health/rise_fall.h"
#include "proxy/http/request_head.h"
#include "proxy/json.h"
#include "proxy/log.h"
#include "proxy/metrics_text.h"
#include "proxy/net.h"
#include "proxy/worker.h"
#include "proxy/worker_pool.h"
#include "ringway_version.h"

namespace ringway {
namespace {

constexpr size_t kMaxAdminHead = 8 * 1024;
constexpr uint64_t kAdminTimeoutMs = 10000;

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// One admin connection: read one request head, answer, close. Frees itself when both handles close.
struct AdminConnection {
  AdminServer* server = nullptr;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_write_t write_req{};
  uv_shutdown_t shutdown_req{};
  std::string in;
  std::string out;
  int open = 2;
  bool answered = false;
  char slab[4096];

  void close() {
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp))) return;
    auto done = [](uv_handle_t* h) {
      auto* c = static_cast<AdminConnection*>(h->data);
      if (--c->open == 0) delete c;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), done);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), done);
  }

  void answer(const AdminResponse& response) {
    answered = true;
    out = "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) +
          "\r\nContent-Type: " + response.content_type +
          "\r\nContent-Length: " + std::to_string(response.body.size()) +
          "\r\nConnection: close\r\n\r\n" + response.body;
    uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
    write_req.data = this;
    uv_write(&write_req, reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1, [](uv_write_t* req, int status) {
      auto* c = static_cast<AdminConnection*>(req->data);
      if (status < 0) {
        c->close();
        return;
      }
      c->shutdown_req.data = c;
      // The whole request was read and the whole answer is out: close once the FIN is sent, so an
      // admin client never keeps the process (or a shutdown) waiting.
      uv_shutdown(&c->shutdown_req, reinterpret_cast<uv_stream_t*>(&c->tcp), [](uv_shutdown_t* r, int) {
        static_cast<AdminConnection*>(r->data)->close();
      });
    });
  }

  void on_read(ssize_t nread, const uv_buf_t* buf) {
    if (nread < 0) {
      close();
      return;
    }
    if (answered) return;  // draining the client's leftovers until it closes
    in.append(buf->base, static_cast<size_t>(nread));
    const http::HeadParse parse = http::parse_request_head(in, kMaxAdminHead);
    switch (parse.status) {
      case http::HeadStatus::NeedMore:
        return;
      case http::HeadStatus::TooLarge:
      case http::HeadStatus::Malformed:
        answer(AdminResponse{400, "text/plain; charset=utf-8", "bad request\n"});
        return;
      case http::HeadStatus::Complete:
        answer(server->handle(parse.head.method, parse.head.target));
        return;
    }
  }
};

// The contract's three states; drain wins over health so that an operator sees their own action.
// A backend that is not yet checked, or ejected by passive checks, takes no traffic: "down".
const char* state_name(const health::BackendState& state, uint64_t now_ms) {
  if (state.draining.load(std::memory_order_relaxed)) return "draining";
  return state.usable(now_ms) ? "up" : "down";
}

// What the health checks know about a backend: "health", and "check" / "passive" when the pool
// has them (README, "Admin endpoints").
void write_health(json::Writer& w, const conf::Pool& pool, const health::BackendState& state, uint64_t now_ms) {
  w.key("health").string(health::to_string(state.health.load(std::memory_order_relaxed)));
  w.key("draining").boolean(state.draining.load(std::memory_order_relaxed));
  if (pool.health_check) {
    const health::CheckSnapshot check = state.check.snapshot();
    static constexpr const char* kTypes[] = {"tcp", "http", "websocket"};
    w.key("check").begin_object();
    w.key("type").string(kTypes[static_cast<size_t>(pool.health_check->type)]);
    w.key("last").string(check.checks == 0 ? "pending" : check.last);
    w.key("since").string(check.since_unix_ms == 0 ? "" : health::utc_text(check.since_unix_ms));
    w.key("checks").number(check.checks);
    w.end_object();
  }
  if (pool.passive) {
    w.key("passive").begin_object();
    w.key("ejected").boolean(health::is_ejected(state, now_ms));
    w.key("ejected_for_ms").number(health::ejected_for_ms(state, now_ms));
    w.key("consecutive_failures").number(state.consecutive_failures.load(std::memory_order_relaxed));
    w.key("ejections").number(state.ejections.load(std::memory_order_relaxed));
    w.end_object();
  }
}

std::string_view path_of(std::string_view target) {
  const size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace

AdminServer::AdminServer(uv_loop_t* loop, WorkerPool& workers) : loop_(loop), workers_(workers) {}

// The new socket listens before the old one closes, so moving admin.bind by a reload either works
// or leaves the old listener in place.
bool AdminServer::start(const conf::Endpoint& bind, std::string& error) {
  auto address = net::resolve(bind, error);
  if (!address) return false;
  auto* handle = new uv_tcp_t;
  uv_tcp_init(loop_, handle);
  handle->data = this;
  int rc = uv_tcp_bind(handle, reinterpret_cast<const sockaddr*>(&*address), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle), 128, on_connection);
  if (rc != 0) {
    error = "admin: cannot listen on " + bind.text + ": " + uv_strerror(rc);
    uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return false;
  }
  stop();
  handle_ = handle;
  log::info("admin listening", {{"bind", bind.text}});
  return true;
}

void AdminServer::stop() {
  if (handle_ == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  handle_ = nullptr;
}

void AdminServer::on_connection(uv_stream_t* listener, int status) {
  if (status < 0) return;
  auto* server = static_cast<AdminServer*>(listener->data);
  auto* c = new AdminConnection;
  c->server = server;
  uv_tcp_init(server->loop_, &c->tcp);
  uv_timer_init(server->loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    c->close();
    return;
  }
  uv_timer_start(&c->timer, [](uv_timer_t* t) { static_cast<AdminConnection*>(t->data)->close(); },
                 kAdminTimeoutMs, 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* conn = static_cast<AdminConnection*>(h->data);
        *buf = uv_buf_init(conn->slab, sizeof conn->slab);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        static_cast<AdminConnection*>(s->data)->on_read(nread, buf);
      });
}

AdminResponse AdminServer::handle(std::string_view method, std::string_view target) {
  const std::string_view path = path_of(target);
  if (path.starts_with("/pools/")) {
    if (method != "POST") return {405, "text/plain; charset=utf-8", "use POST\n"};
    if (path.ends_with("/drain")) return set_drain(path, true);
    if (path.ends_with("/undrain")) return set_drain(path, false);
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }
  if (method != "GET" && method != "HEAD") return {405, "text/plain; charset=utf-8", "use GET\n"};
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/ready") {
    if (ready()) return {200, "text/plain; charset=utf-8", "ready\n"};
    return {503, "text/plain; charset=utf-8", shutting_down_ ? "shutting down\n" : "not ready\n"};
  }
  // Counters are written by the worker threads: what a client has seen happen is counted once each
  // worker has finished the loop iteration that handled it.
  if (path == "/status") {
    workers_.sync();
    return {200, "application/json", status_json()};
  }
  if (path == "/metrics") {
    workers_.sync();
    return {200, std::string(metrics::kContentType), metrics::scrape(workers_, metrics_)};
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

bool AdminServer::ready() const {
  if (shutting_down_ || !workers_.accepting()) return false;
  const auto runtime = workers_.runtime();
  for (const auto& pool : runtime->pools) {
    bool any_up = false;
    for (const auto& backend : pool->backends) {
      if (backend->state->usable(uv_now(loop_))) any_up = true;
    }
    if (!any_up) return false;
  }
  return true;
}

// /pools/POOL/backends/NAME/drain|undrain
AdminResponse AdminServer::set_drain(std::string_view path, bool drain) {
  std::string_view rest = path.substr(std::string_view("/pools/").size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {404, "text/plain; charset=utf-8", "not found\n"};
  const std::string_view pool_name = rest.substr(0, slash);
  rest = rest.substr(slash);
  if (!rest.starts_with("/backends/")) return {404, "text/plain; charset=utf-8", "not found\n"};
  rest = rest.substr(std::string_view("/backends/").size());
  const size_t end = rest.rfind('/');
  const std::string_view backend_name = rest.substr(0, end);

  const auto runtime = workers_.runtime();
  PoolRuntime* pool = runtime->find_pool(pool_name);
  if (pool == nullptr) return {404, "text/plain; charset=utf-8", "no such pool\n"};
  const size_t index = pool->backend_index(backend_name);
  if (index == std::string_view::npos) return {404, "text/plain; charset=utf-8", "no such backend\n"};
  const std::shared_ptr<health::BackendState>& state = pool->backends[index]->state;
  state->draining.store(drain, std::memory_order_relaxed);
  if (drain) {
    workers_.drain_backend(state, std::string(pool_name) + "/" + std::string(backend_name),
                           static_cast<uint64_t>(pool->config->drain_timeout.count()));
  } else {
    workers_.undrain_backend(state);
  }
  log::info(drain ? "backend draining" : "backend undrained",
            {{"pool", std::string(pool_name)}, {"backend", std::string(backend_name)}, {"by", "admin"}});
  return {200, "text/plain; charset=utf-8", drain ? "draining\n" : "undrained\n"};
}

std::string AdminServer::status_json() const {
  const auto runtime = workers_.runtime();
  json::Writer w;
  w.begin_object();
  w.key("version").string(RINGWAY_VERSION);
  w.key("generation").number(runtime->generation);
  w.key("shutting_down").boolean(shutting_down_);
  w.key("reloads").begin_object();
  w.key("success").number(metrics_.reloads(true));
  w.key("failure").number(metrics_.reloads(false));
  w.end_object();
  w.key("listeners").begin_array();
  for (const ListenerRuntime& listener : runtime->listeners) {
    const conf::Listener& lc = *listener.config;
    const ListenerCounters* counters = workers_.counters(listener);
    w.begin_object();
    w.key("name").string(lc.name);
    w.key("bind").string(lc.bind.text);
    w.key("mode").string(lc.mode == conf::ListenerMode::Tcp ? "tcp" : "http");
    w.key("accepting").boolean(workers_.accepting());
    w.key("connections_active").number(counters != nullptr ? counters->active() : 0);
    w.key("connections_total").number(counters != nullptr ? counters->total() : 0);
    w.end_object();
  }
  w.end_array();
  // Per worker thread: how the kernel spread the connections (SO_REUSEPORT).
  w.key("workers").begin_array();
  for (size_t i = 0; i < workers_.size(); ++i) {
    w.begin_object();
    w.key("worker").number(i);
    w.key("connections_active").number(workers_.worker(i).sessions_active());
    w.key("connections_total").number(workers_.worker(i).sessions_total());
    w.end_object();
  }
  w.end_array();
  w.key("pools").begin_array();
  for (const auto& pool : runtime->pools) {
    w.begin_object();
    w.key("name").string(pool->config->name);
    w.key("hash_key").string(pool->config->hash_key_text);
    w.key("backends").begin_array();
    for (size_t i = 0; i < pool->backends.size(); ++i) {
      const BackendRuntime& b = *pool->backends[i];
      w.begin_object();
      w.key("name").string(b.config->name);
      w.key("address").string(b.config->address.text);
      if (!b.config->discovered_from.empty()) w.key("discovered_from").string(b.config->discovered_from);
      w.key("state").string(state_name(*b.state, uv_now(loop_)));
      w.key("weight").number(b.config->weight);
      w.key("backup").boolean(b.config->backup);
      w.key("active_connections").number(b.state->active.load(std::memory_order_relaxed));
      w.key("connect_failures").number(b.state->connect_failures.load(std::memory_order_relaxed));
      write_health(w, *pool->config, *b.state, uv_now(loop_));
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.take() + "\n";
}

}  // namespace ringway
