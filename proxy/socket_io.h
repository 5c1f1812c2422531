// A session's socket syscalls on the data path: send(2) and recv(2) on the descriptor of a libuv
// stream, in place of the write(2) and read(2) that libuv makes. The socket calls skip the VFS
// layer those go through (vfs_write/vfs_read, rw_verify_area, the security hook): in a profile of
// 100 ping-pong connections that layer was 2.6 % (writes) and 2.3 % (reads) of ringway's CPU per
// round trip, against HAProxy's and NGINX's sendto/recvfrom. They are made with syscall(2), past
// glibc's cancellation-point wrappers (socket_io.cpp says why). libuv still owns the sockets: it
// connects, polls (level-triggered epoll, edge-triggered for a busy relay: edge_poll.h) and closes
// them, and queues what these cannot send.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <span>

namespace ringway::net {

// uv_try_write with send(2): the bytes sent (possibly fewer), or a libuv error (UV_EAGAIN when
// nothing could go). Like uv_try_write it sends nothing while writes are queued on the stream, so
// bytes never overtake a queued uv_write (on a socket still connecting the kernel answers EAGAIN).
// `flags`: MSG_MORE for the last bytes before the socket's close, whose FIN then shares their
// segment.
int try_send(uv_stream_t* stream, const uv_buf_t& buf, int flags);

// One recv(2) into `into`: the byte count, UV_EOF, UV_EAGAIN (nothing there after all) or another
// libuv error.
ssize_t recv_once(uv_stream_t* stream, std::span<uint8_t> into);

}  // namespace ringway::net
