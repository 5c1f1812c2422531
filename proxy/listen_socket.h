// A listening TCP socket that several workers can each open on the same address: SO_REUSEPORT lets
// every worker have its own accept queue, and the kernel spreads new connections over them by a hash
// of the 4-tuple, so connections never cross threads (DESIGN.md, "Threads and state"). libuv 1.44
// has no flag for it, so the socket is made here and handed to uv_tcp_open on the worker's loop.
#pragma once

#include <sys/socket.h>

#include <string>

namespace ringway::net {

// socket() + SO_REUSEADDR + SO_REUSEPORT + bind + listen (+ TCP_NODELAY on and TCP_QUICKACK off,
// for the accepted sockets to inherit), non-blocking and close-on-exec; IPv4 or IPv6 by the
// address's family (a v6 socket is left dual-stack as the system says, like uv_tcp_bind). The
// descriptor, or -1 with the reason in `error` ("address already in use", ...). Listening at once
// matters: a bound socket in a SO_REUSEPORT group that does not listen yet takes no connections,
// and one that listens queues them until its worker starts accepting, so a reload never refuses one.
int open_listening_socket(const sockaddr_storage& address, int backlog, std::string& error);

// Closes a descriptor that was never handed to a loop (a reload that failed).
void close_socket(int fd);

}  // namespace ringway::net
