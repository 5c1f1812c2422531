// libuv's uv_read_stop, named before edge_poll.h poisons the name for the session's files.
#include <uv.h>
namespace {
constexpr auto libuv_read_stop = &uv_read_stop;
}  // namespace

#include "proxy/edge_poll.h"

#include <poll.h>
#include <sys/epoll.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "proxy/log.h"

namespace ringway::net {
namespace {

// libuv's callback for stream watchers (uv__stream_io), taken from the first stream edge-polled:
// every TCP stream has the same one.
std::atomic<uv__io_cb> libuv_stream_io{nullptr};

// What libuv asks epoll for, for a stream being read and nothing else, while edge-polled.
constexpr unsigned kEdgeInterest = POLLIN | EPOLLRDHUP;

// libuv queues a watcher whose registration it must rewrite at its next poll (uv__io_start/stop);
// the queue links of a watcher not queued point at themselves.
bool queued_by_libuv(const uv__io_t& w) { return w.watcher_queue[0] != static_cast<const void*>(&w.watcher_queue); }

// The libuv whose watcher and epoll backend this file was written against and tested with (Debian
// 12's 1.44). With another one, sockets stay level-triggered: slower by a few percent, never wrong.
bool libuv_known() {
  constexpr unsigned kMinorMask = 0xFFFF00U;
  constexpr unsigned kLibuv144 = 0x012C00U;  // uv_version(): major << 16 | minor << 8 | patch
  static const bool known = (uv_version() & kMinorMask) == kLibuv144;
  return known;
}

void give_back_to_libuv(uv__io_t& w) {
  w.cb = libuv_stream_io.load(std::memory_order_relaxed);
  w.pevents &= ~static_cast<unsigned>(EPOLLRDHUP);
}

bool modify(uv_loop_t* loop, int fd, unsigned events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;  // as libuv registers it: its poll finds the watcher by fd
  return epoll_ctl(uv_backend_fd(loop), EPOLL_CTL_MOD, fd, &event) == 0;
}

void back_to_level(uv_loop_t* loop, uv__io_t& w) {
  give_back_to_libuv(w);
  if (w.pevents == 0 || w.fd < 0) return;
  if (modify(loop, w.fd, w.pevents)) {
    w.events = w.pevents;
    return;
  }
  // Cannot happen while libuv watches the socket (it removes a socket only once it stopped
  // watching it); if it did, libuv's next change of interest registers it anew.
  log::warn("edge-triggered poll: epoll_ctl back to level triggering failed",
            {{"error", std::string(std::strerror(errno))}});
}

uv_stream_t* stream_of(uv__io_t* w) {
  return reinterpret_cast<uv_stream_t*>(reinterpret_cast<char*>(w) - offsetof(uv_stream_t, io_watcher));
}

// The edge-polled stream's watcher callback: the peer's end (or an error) turns the socket back to
// level triggering before libuv's callback reads it, so that what follows the read is reported.
//
// Bytes alone (the event of every message) skip libuv's callback: for a stream that is being read
// (POLLIN in libuv's interest) and nothing else, uv__stream_io comes down to uv__read, which asks the
// alloc callback for a buffer, and a session's declines (SessionCallbacks::alloc), so the read
// callback gets UV_ENOBUFS: called here directly, as libuv would.
void edge_io(uv_loop_t* loop, uv__io_t* w, unsigned events) {
  if (events == POLLIN && w->pevents == kEdgeInterest) {
    uv_stream_t* stream = stream_of(w);
    const uv_buf_t none = uv_buf_init(nullptr, 0);
    stream->read_cb(stream, UV_ENOBUFS, &none);
    return;
  }
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) back_to_level(loop, *w);
  libuv_stream_io.load(std::memory_order_relaxed)(loop, w, events);
}

}  // namespace

bool poll_edge_triggered(uv_tcp_t* stream) {
  uv__io_t& w = stream->io_watcher;
  if (w.cb == edge_io && (w.events & EPOLLET) != 0) return true;
  if (!libuv_known() || uv_is_closing(reinterpret_cast<const uv_handle_t*>(stream)) != 0 || w.fd < 0) return false;
  // Being read and nothing else, as registered: no write or connect waits for POLLOUT (it would be
  // dropped), and no change of libuv's is pending (it would undo this one at its next poll).
  const unsigned interest = w.pevents & ~static_cast<unsigned>(EPOLLRDHUP);
  if (interest != POLLIN || w.events != w.pevents || queued_by_libuv(w)) return false;
  if (!modify(stream->loop, w.fd, kEdgeInterest | EPOLLET)) return false;
  w.pevents = kEdgeInterest;
  // EPOLLET in what libuv believes registered: it never equals libuv's interest, so any change libuv
  // makes rewrites the registration (level-triggered), and edge_triggered() sees it.
  w.events = kEdgeInterest | EPOLLET;
  if (w.cb != edge_io) {
    libuv_stream_io.store(w.cb, std::memory_order_relaxed);
    w.cb = edge_io;
  }
  return true;
}

void poll_level_triggered(uv_tcp_t* stream) {
  uv__io_t& w = stream->io_watcher;
  if (w.cb != edge_io) return;
  back_to_level(stream->loop, w);
}

bool edge_triggered(const uv_tcp_t* stream) {
  const uv__io_t& w = stream->io_watcher;
  return w.cb == edge_io && (w.events & EPOLLET) != 0;
}

void stop_reading(uv_tcp_t* stream) {
  uv__io_t& w = stream->io_watcher;
  // libuv's read stop then clears POLLIN, the last bit, and drops the watcher; epoll keeps the old
  // registration until libuv removes it (its next report of the socket) or registers it anew.
  if (w.cb == edge_io) give_back_to_libuv(w);
  libuv_read_stop(reinterpret_cast<uv_stream_t*>(stream));
}

}  // namespace ringway::net
