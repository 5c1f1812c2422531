// net::try_send and net::recv_once (proxy/socket_io.h) on real loopback TCP sockets owned by libuv:
// what they return at each end of a connection, and that try_send never overtakes a write libuv
// has queued.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/socket_io.h"

namespace {

// A connected pair: `a` is a libuv stream on one end, `peer` the plain descriptor of the other.
struct Pair {
  uv_loop_t loop{};
  uv_tcp_t a{};
  int peer = -1;

  Pair() {
    uv_loop_init(&loop);
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    socklen_t length = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    peer = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    uv_tcp_init(&loop, &a);
    REQUIRE(uv_tcp_open(&a, fd) == 0);  // non-blocking from here
  }
  ~Pair() {
    if (peer >= 0) ::close(peer);
    uv_close(reinterpret_cast<uv_handle_t*>(&a), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&a); }
};

uv_buf_t buf_of(std::string& s) { return uv_buf_init(s.data(), static_cast<unsigned>(s.size())); }

std::string read_peer(int fd, size_t n) {
  std::string got(n, '\0');
  size_t have = 0;
  while (have < n) {
    const ssize_t r = ::recv(fd, got.data() + have, n - have, 0);
    REQUIRE(r > 0);
    have += static_cast<size_t>(r);
  }
  return got;
}

}  // namespace

TEST_CASE("try_send sends at once and recv_once reads what the peer sent") {
  Pair p;
  std::string hello = "hello";
  CHECK(ringway::net::try_send(p.stream(), buf_of(hello), 0) == 5);
  CHECK(read_peer(p.peer, 5) == "hello");

  std::array<uint8_t, 64> into{};
  CHECK(ringway::net::recv_once(p.stream(), into) == UV_EAGAIN);  // nothing there yet
  REQUIRE(::send(p.peer, "abc", 3, 0) == 3);
  CHECK(ringway::net::recv_once(p.stream(), into) == 3);
  CHECK(std::string(into.begin(), into.begin() + 3) == "abc");
}

TEST_CASE("recv_once tells the end apart: UV_EOF after a FIN, an error after a reset") {
  SUBCASE("FIN") {
    Pair p;
    ::shutdown(p.peer, SHUT_WR);
    std::array<uint8_t, 16> into{};
    ssize_t got = UV_EAGAIN;
    while (got == UV_EAGAIN) got = ringway::net::recv_once(p.stream(), into);
    CHECK(got == UV_EOF);
  }
  SUBCASE("reset") {
    Pair p;
    const linger abort_on_close{1, 0};
    ::setsockopt(p.peer, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    ::close(p.peer);
    p.peer = -1;
    std::array<uint8_t, 16> into{};
    ssize_t got = UV_EAGAIN;
    while (got == UV_EAGAIN) got = ringway::net::recv_once(p.stream(), into);
    CHECK(got == UV_ECONNRESET);
    std::string more = "x";
    CHECK(ringway::net::try_send(p.stream(), buf_of(more), 0) < 0);  // EPIPE, and no SIGPIPE
  }
}

TEST_CASE("try_send sends nothing while libuv has a write queued, so bytes keep their order") {
  Pair p;
  // Fill the socket until the kernel takes no more, then queue the next bytes with uv_write.
  std::vector<char> block(1 << 16, 'a');
  uv_buf_t fill = uv_buf_init(block.data(), static_cast<unsigned>(block.size()));
  size_t filled = 0;
  for (;;) {
    const int n = ringway::net::try_send(p.stream(), fill, 0);
    if (n == UV_EAGAIN) break;
    REQUIRE(n > 0);
    filled += static_cast<size_t>(n);
  }
  std::string queued = "QUEUED";
  uv_write_t req{};
  uv_buf_t queued_buf = buf_of(queued);
  REQUIRE(uv_write(&req, p.stream(), &queued_buf, 1, nullptr) == 0);
  REQUIRE(uv_stream_get_write_queue_size(p.stream()) == queued.size());

  // The peer drains some room, but try_send still defers to the queue.
  CHECK(read_peer(p.peer, filled).find_first_not_of('a') == std::string::npos);
  std::string later = "LATER";
  CHECK(ringway::net::try_send(p.stream(), buf_of(later), 0) == UV_EAGAIN);

  // Once libuv has written its queue, try_send goes again, after it on the wire.
  while (uv_stream_get_write_queue_size(p.stream()) != 0) uv_run(&p.loop, UV_RUN_ONCE);
  CHECK(ringway::net::try_send(p.stream(), buf_of(later), 0) == 5);
  CHECK(read_peer(p.peer, 11) == "QUEUEDLATER");
}
