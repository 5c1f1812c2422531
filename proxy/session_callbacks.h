// libuv's C callbacks for Session, in one place: each recovers the session from `data` and calls
// the member that handles the event.
#pragma once

#include <uv.h>

#include "proxy/session.h"
#include "proxy/worker.h"

namespace ringway {

struct SessionCallbacks {
  static Session* of(const void* data) { return static_cast<Session*>(const_cast<void*>(data)); }

  // Every read lands in the worker's slab; what is not written on at once is copied (relay.cpp).
  static void alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
    Worker& worker = of(handle->data)->worker();
    worker.count_read();  // wakeup coalescing (proxy/worker_loop.h)
    const std::span<uint8_t> slab = worker.read_slab();
    *buf = uv_buf_init(reinterpret_cast<char*>(slab.data()), static_cast<unsigned>(slab.size()));
  }
  static void client_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Session* s = of(stream->data);
    s->on_read(&s->client_, nread, buf);
  }
  static void backend_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Session* s = of(stream->data);
    s->on_read(&s->backend_, nread, buf);
  }
  static void connected(uv_connect_t* req, int status) {
    of(req->handle->data)->on_connected(status);
  }
  static void timer(TimerWheel::Entry& entry) { static_cast<Session&>(entry).on_timer(); }
  static void handle_closed(uv_handle_t* handle) { of(handle->data)->on_handle_closed(); }
  static void backend_closed(uv_handle_t* handle) { of(handle->data)->on_backend_closed(); }
  static void c2b_written(uv_write_t* req, int status) {
    Session* s = of(req->data);
    s->on_flow_written(s->c2b_, status);
  }
  static void b2c_written(uv_write_t* req, int status) {
    Session* s = of(req->data);
    s->on_flow_written(s->b2c_, status);
  }
};

}  // namespace ringway
