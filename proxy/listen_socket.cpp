#include "proxy/listen_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>

namespace ringway::net {

int open_listening_socket(const sockaddr_storage& address, int backlog, std::string& error) {
  const int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = uv_strerror(uv_translate_sys_error(errno));
    return -1;
  }
  const int on = 1;
  const socklen_t length = address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0 || ::listen(fd, backlog) != 0) {
    error = uv_strerror(uv_translate_sys_error(errno));
    ::close(fd);
    return -1;
  }
  // Every accepted connection gets TCP_NODELAY. Linux passes it on from the listening socket, which
  // saves a setsockopt per connection (Session::accept checks once that it did).
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  // And starts with delayed ACKs (TCP_QUICKACK off, inherited too), as HAProxy's HTTP listeners do:
  // the request's ACK then rides on the answer (the 101) instead of a segment of its own. The kernel
  // leaves that mode by itself when a delayed ACK times out (a one-way stream pays it once), and
  // enters it again when traffic goes both ways, so tcp-mode listeners get it as well.
  const int off = 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
  return fd;
}

void close_socket(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace ringway::net
