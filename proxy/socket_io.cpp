#include "proxy/socket_io.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace ringway::net {
namespace {

// The system calls themselves, not glibc's send() and recv(). Those are thread cancellation
// points: in a process with more than one thread (ringway has its control thread) glibc brackets
// each call with __pthread_enable_asynccancel and __pthread_disable_asynccancel, two atomic
// operations on the thread's cancel state that were 0.9 % of ringway's CPU in a profile of 100
// ping-pong connections. ringway never cancels a thread, so the brackets buy nothing.
ssize_t sys_send(int fd, const void* data, size_t length, int flags) {
  return syscall(SYS_sendto, fd, data, length, flags, nullptr, 0);
}

ssize_t sys_recv(int fd, void* into, size_t length, int flags) {
  return syscall(SYS_recvfrom, fd, into, length, flags, nullptr, nullptr);
}

// What uv_fileno answers, read from the stream's watcher (uv/unix.h) without its checks of the handle
// type, once per send and recv: libuv sets the descriptor to -1 as it closes the socket (uv_close).
int fd_of(uv_stream_t* stream, uv_os_fd_t& fd) {
  fd = stream->io_watcher.fd;
  return fd < 0 ? UV_EBADF : 0;
}

}  // namespace

int try_send(uv_stream_t* stream, const uv_buf_t& buf, int flags) {
  if (uv_stream_get_write_queue_size(stream) != 0) return UV_EAGAIN;
  uv_os_fd_t fd = -1;
  if (const int rc = fd_of(stream, fd); rc != 0) return rc;
  ssize_t sent = 0;
  do {
    sent = sys_send(fd, buf.base, buf.len, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (sent < 0 && errno == EINTR);
  return sent >= 0 ? static_cast<int>(sent) : uv_translate_sys_error(errno);
}

ssize_t recv_once(uv_stream_t* stream, std::span<uint8_t> into) {
  uv_os_fd_t fd = -1;
  if (const int rc = fd_of(stream, fd); rc != 0) return rc;
  ssize_t got = 0;
  do {
    got = sys_recv(fd, into.data(), into.size(), MSG_DONTWAIT);
  } while (got < 0 && errno == EINTR);
  if (got > 0) return got;
  return got == 0 ? UV_EOF : uv_translate_sys_error(errno);
}

}  // namespace ringway::net
