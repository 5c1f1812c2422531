// The admin listener (admin.bind): /healthz, /ready, /status, /metrics and the drain endpoints, HTTP/1.1
// with one request per connection. It runs on the control loop and only reads shared state (atomics,
// and the pool's view of the running configuration); drains reach the workers through the pool.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "conf/config.h"
#include "proxy/metrics_scrape.h"

namespace ringway {

class WorkerPool;

// What the admin endpoints answer, computed from the running process.
struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  AdminServer(uv_loop_t* loop, WorkerPool& workers);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  bool start(const conf::Endpoint& bind, std::string& error);
  void stop();
  // While shutting down /ready answers 503.
  void set_shutting_down() { shutting_down_ = true; }
  // Reload outcomes go to the metrics (ringway_config_reloads_total) and /status.
  void count_reload(bool success) { metrics_.count_reload(success); }

  // Routing, separate from the sockets so that it is testable on its own.
  AdminResponse handle(std::string_view method, std::string_view target);

 private:
  static void on_connection(uv_stream_t* server, int status);
  std::string status_json() const;
  bool ready() const;
  AdminResponse set_drain(std::string_view target, bool drain);

  uv_loop_t* loop_;
  WorkerPool& workers_;
  uv_tcp_t* handle_ = nullptr;  // heap: its close callback may run after a new one replaced it
  bool shutting_down_ = false;
  metrics::ProcessMetrics metrics_;  // reloads and what /metrics keeps between scrapes
};

}  // namespace ringway
