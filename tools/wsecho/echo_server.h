// The echo server proper: a libuv listener and one Connection object per client socket. Single
// threaded; a test backend should be easy to reason about, not fast at any cost.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <string>
#include <unordered_set>

namespace wsecho {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string id = "wsecho";
  bool hello = false;      // send "backend=ID" in the same write as the 101
  int reject_status = 0;   // non-zero: answer every upgrade with this status and a body
};

class Connection;

class EchoServer {
 public:
  EchoServer(uv_loop_t* loop, Options options);
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  EchoServer(EchoServer&&) = delete;  // libuv holds pointers into it
  EchoServer& operator=(EchoServer&&) = delete;
  ~EchoServer() = default;

  // Binds and listens. Returns 0 or a libuv error; BOUND gets "HOST:PORT" with the real port, so
  // `--listen 127.0.0.1:0` is usable by tests.
  int start(std::string& bound);
  // Closes the listener and every connection; afterwards the loop runs dry and uv_run returns.
  void stop();

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] uv_loop_t* loop() const { return loop_; }

  // One read buffer for the whole loop: each read is consumed (copied into the connection's
  // partial-frame buffer or echoed) before the next read is issued, so sharing is safe.
  uv_buf_t read_buffer() { return uv_buf_init(read_slab_.data(), static_cast<unsigned>(read_slab_.size())); }
  void forget(Connection* connection) { connections_.erase(connection); }

 private:
  static void on_connection(uv_stream_t* listener, int status);

  uv_loop_t* loop_;
  Options options_;
  uv_tcp_t listener_{};
  bool listener_open_ = false;
  std::unordered_set<Connection*> connections_;
  std::array<char, 64UL * 1024> read_slab_{};
};

}  // namespace wsecho
