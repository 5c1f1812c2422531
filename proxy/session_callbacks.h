// libuv's C callbacks for Session, in one place: each recovers the session from `data` and calls
// the member that handles the event.
#pragma once

#include <uv.h>

#include "proxy/session.h"
#include "proxy/worker.h"

namespace ringway {

struct SessionCallbacks {
  static Session* of(const void* data) { return static_cast<Session*>(const_cast<void*>(data)); }

  // Sessions read their sockets themselves, with recv(2) (proxy/socket_io.h). An empty buffer is
  // libuv's documented way to decline a read: the read callback then gets UV_ENOBUFS, which here
  // means "the socket is readable" (Session::read_socket).
  static void alloc(uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(nullptr, 0); }
  static void client_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Session* s = of(stream->data);
    if (nread == UV_ENOBUFS) {
      s->read_socket(&s->client_);
    } else {
      s->on_read(&s->client_, nread, buf);
    }
  }
  static void backend_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Session* s = of(stream->data);
    if (nread == UV_ENOBUFS) {
      s->read_socket(&s->backend_);
    } else {
      s->on_read(&s->backend_, nread, buf);
    }
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
