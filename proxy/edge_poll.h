// Edge-triggered polling of an established WebSocket's sockets, inside libuv's own epoll.
//
// Why: libuv registers every socket level-triggered. epoll then puts each socket it reports back on
// its ready list, and the next epoll_wait polls it again (ep_send_events, ep_item_poll, sock_poll,
// tcp_poll) only to find it empty. In a profile of 100 ping-pong WebSockets that second poll was
// about 2 % of ringway's CPU, the largest part of what ringway spent above NGINX, whose sockets are
// edge-triggered with EPOLLRDHUP.
//
// How: a socket that libuv polls for reading alone is registered anew by hand as
// EPOLLIN | EPOLLRDHUP | EPOLLET. libuv's bookkeeping stays true: its watcher's interest mask
// gains EPOLLRDHUP (libuv's poll passes on only the bits of that mask, and the peer's FIN is what
// ringway must see), the mask it believes registered gains EPOLLET as well, and the watcher's
// callback is wrapped to look at the bits before libuv's own stream callback runs.
//
// The two rules an edge-triggered socket needs, and how they hold here:
// - Every report is read until the socket is empty. A session reads once per report, and a read that
//   comes out short has emptied it: bytes that arrive after it make a new edge. A read that fills
//   the slab may have left bytes: back to level triggering (poll_level_triggered).
// - An end that comes with the last bytes is not lost. The read takes the bytes and no new edge
//   comes for the FIN behind them (a first trial without EPOLLRDHUP lost such ends, 2 runs in 4 of a
//   TLS flood test). A report carrying EPOLLRDHUP, EPOLLHUP or EPOLLERR goes back to level
//   triggering before libuv's callback reads: the level-triggered registration then reports what is
//   left, the end included, on the next poll.
//
// libuv rewrites the registration itself whenever its own interest changes (a queued write's
// POLLOUT, say), level-triggered, with the mask it keeps: always safe. The EPOLLET bit in the mask it
// believes registered makes any such rewrite clear it, so `edge_triggered` tells which one is in force.
// The one thing libuv cannot undo is the EPOLLRDHUP bit in its interest mask: uv_read_stop clears
// only POLLIN, and a watcher left with EPOLLRDHUP alone would stay registered and be reported in a
// loop once the peer's FIN came. So a session stops reading through `stop_reading`, never through
// uv_read_stop itself (uv_close is safe: libuv's close clears every bit).
//
// This leans on libuv 1.x's Unix watcher (uv__io_t, declared in uv/unix.h) and on how its epoll
// backend uses it (src/unix/epoll.c in 1.44): a libuv that changed either would need this file
// changed, so with any libuv but 1.44 (checked at run time, uv_version) sockets stay
// level-triggered. tests/integration/test_edge_poll.py drives every transition.
#pragma once

#include <uv.h>

namespace ringway::net {

// Registers `stream` edge-triggered. Only while libuv polls it for reading alone and nothing of
// libuv's is waiting to change that (false otherwise: nothing changed), and only right after a read
// that emptied the socket. true if it is edge-triggered now. Only for a stream whose alloc
// callback declines every read (a session's, SessionCallbacks::alloc): the report of bytes alone
// goes straight to its read callback with UV_ENOBUFS, as libuv's own read would deliver it.
bool poll_edge_triggered(uv_tcp_t* stream);

// Back to libuv's level-triggered registration now (one epoll_ctl). Nothing if it is not edge-polled.
void poll_level_triggered(uv_tcp_t* stream);

// True while `stream` is registered edge-triggered.
bool edge_triggered(const uv_tcp_t* stream);

// uv_read_stop for a stream that may be edge-polled: hands libuv back a watcher it can stop.
void stop_reading(uv_tcp_t* stream);

}  // namespace ringway::net

// Where this header is included (the session's files), a direct uv_read_stop no longer compiles:
// stop_reading is the only way to stop reading a session's socket.
#pragma GCC poison uv_read_stop
