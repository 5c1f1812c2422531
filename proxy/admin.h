// The admin listener (admin.bind): /healthz, /ready, /status and the drain endpoints, HTTP/1.1
// with one request per connection. It runs on the control loop and only reads shared state.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "conf/config.h"

namespace ringway {

class Worker;

// What the admin endpoints answer, computed from the running process.
struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  AdminServer(uv_loop_t* loop, Worker& worker);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  bool start(const conf::Endpoint& bind, std::string& error);
  void stop();
  // While shutting down /ready answers 503.
  void set_shutting_down() { shutting_down_ = true; }
  void count_reload(bool success) { ++(success ? reloads_ok_ : reloads_failed_); }

  // Routing, separate from the sockets so that it is testable on its own.
  AdminResponse handle(std::string_view method, std::string_view target);

 private:
  static void on_connection(uv_stream_t* server, int status);
  std::string status_json() const;
  bool ready() const;
  AdminResponse set_drain(std::string_view target, bool drain);

  uv_loop_t* loop_;
  Worker& worker_;
  uv_tcp_t handle_{};
  bool listening_ = false;
  bool shutting_down_ = false;
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
};

}  // namespace ringway
