// uring_relay: a measurement experiment for issue 11's stretch goal, not part of ringway.
//
// A minimal TCP relay (listen, connect each accepted client to one backend, copy bytes both ways,
// close both sides when either ends) with interchangeable I/O engines, so that the proxy's CPU per
// round trip can be compared between them with everything else equal:
//   --mode epoll      nonblocking sockets, level-triggered epoll, one 64 KiB read buffer, write at
//                     once, on a partial write keep the rest and stop reading that side until written
//                     (the discipline of ringway's relay).
//   --mode uring      one io_uring: multishot accept, recv with a provided-buffer ring (multishot by
//                     default, --recv single for one-shot recv re-armed on completion), sends straight
//                     from the received buffer, every SQE of one loop turn submitted by the single
//                     io_uring_submit_and_wait that also waits (DEFER_TASKRUN + SINGLE_ISSUER ring).
//   --mode uring-efd  the same ring driven the way a libuv loop would drive it: the ring's eventfd
//                     in an epoll set, io_uring_submit + epoll_wait + read(eventfd) per turn.
// Backpressure in the uring modes: one send in flight per direction; recv on a side is not re-armed
// while data it received is still queued for the peer (a multishot recv still armed keeps filling
// the queue, bounded by the shared buffer pool; -ENOBUFS parks the side until a buffer comes back).
#include <liburing.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "uring_relay: %s: %s\n", what, std::strerror(err));
  std::exit(1);
}

bool parse_addr(const std::string& s, sockaddr_in& a) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(s.c_str() + colon + 1)));
  return inet_pton(AF_INET, s.substr(0, colon).c_str(), &a.sin_addr) == 1;
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// TCP_NODELAY on the listener is inherited by accepted sockets (as ringway relies on).
int make_listener(const sockaddr_in& a, bool nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) die("socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  set_nodelay(fd);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0) die("bind", errno);
  if (listen(fd, 1024) < 0) die("listen", errno);
  return fd;
}

sockaddr_in g_backend;

// A blocking connect (loopback completes at once during the benchmark's setup; both modes share it).
int connect_backend(bool nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&g_backend), sizeof g_backend) < 0) {
    close(fd);
    return -1;
  }
  set_nodelay(fd);
  if (nonblock) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// ---------------------------------------------------------------------------------------- epoll
constexpr size_t kReadBuf = 64 * 1024;

struct EConn;
struct ESide {
  EConn* c = nullptr;
  int fd = -1;
  int idx = 0;
  std::vector<char> pend;  // bytes not yet written to this side
  size_t off = 0;
  bool reading = true;
};
struct EConn {
  ESide s[2];
  bool dead = false;
};

int g_ep = -1;

void e_update(ESide& s) {
  epoll_event ev{};
  ev.events = (s.reading ? EPOLLIN : 0u) | (s.pend.empty() ? 0u : EPOLLOUT);
  ev.data.ptr = &s;
  epoll_ctl(g_ep, EPOLL_CTL_MOD, s.fd, &ev);
}

void e_kill(EConn* c, std::vector<EConn*>& graveyard) {
  if (c->dead) return;
  c->dead = true;
  for (auto& s : c->s) close(s.fd);  // close removes it from the epoll set
  graveyard.push_back(c);
}

void e_readable(ESide& s, char* buf, std::vector<EConn*>& graveyard) {
  EConn* c = s.c;
  ssize_t n = read(s.fd, buf, kReadBuf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return e_kill(c, graveyard);
  ESide& peer = c->s[1 - s.idx];
  ssize_t w = send(peer.fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
  if (w < 0 && errno == EAGAIN) w = 0;
  if (w < 0) return e_kill(c, graveyard);
  if (w < n) {
    peer.pend.assign(buf + w, buf + n);
    peer.off = 0;
    s.reading = false;
    e_update(s);
    e_update(peer);
  }
}

void e_writable(ESide& s, std::vector<EConn*>& graveyard) {
  EConn* c = s.c;
  ssize_t w = send(s.fd, s.pend.data() + s.off, s.pend.size() - s.off, MSG_NOSIGNAL);
  if (w < 0 && errno == EAGAIN) return;
  if (w < 0) return e_kill(c, graveyard);
  s.off += static_cast<size_t>(w);
  if (s.off < s.pend.size()) return;
  s.pend.clear();
  s.off = 0;
  ESide& other = c->s[1 - s.idx];
  other.reading = true;
  e_update(other);
  e_update(s);
}

void run_epoll(const sockaddr_in& listen_addr) {
  int lfd = make_listener(listen_addr, true);
  g_ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;
  epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev);
  static char buf[kReadBuf];
  std::vector<EConn*> graveyard;
  epoll_event evs[256];
  std::fprintf(stderr, "uring_relay: epoll mode ready\n");
  for (;;) {
    int n = epoll_wait(g_ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait", errno);
    }
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.ptr == nullptr) {
        for (;;) {
          int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          int bfd = connect_backend(true);
          if (bfd < 0) {
            close(cfd);
            continue;
          }
          auto* c = new EConn;
          int fds[2] = {cfd, bfd};
          for (int k = 0; k < 2; ++k) {
            c->s[k].c = c;
            c->s[k].fd = fds[k];
            c->s[k].idx = k;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.ptr = &c->s[k];
            epoll_ctl(g_ep, EPOLL_CTL_ADD, fds[k], &ev);
          }
        }
        continue;
      }
      auto& s = *static_cast<ESide*>(evs[i].data.ptr);
      if (s.c->dead) continue;
      uint32_t e = evs[i].events;
      if ((e & EPOLLOUT) && !s.pend.empty()) e_writable(s, graveyard);
      if (!s.c->dead && (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) && s.reading) e_readable(s, buf, graveyard);
    }
    for (auto* c : graveyard) delete c;
    graveyard.clear();
  }
}

// ---------------------------------------------------------------------------------------- uring
enum Kind : uint8_t { kAccept, kRecv, kSend, kIgnore };

struct UConn;
struct Op {
  UConn* c;
  Kind kind;
  uint8_t side;
};
struct Chunk {
  uint16_t bid;
  uint32_t len;
  uint32_t off;
};
struct USide {
  int fd = -1;
  std::deque<Chunk> q;  // received on this side, to be sent to the peer, in order
  bool sending = false;
  bool recv_armed = false;
  bool starved = false;
  Op recv_op{}, send_op{};
};
struct UConn {
  USide s[2];
  int refs = 0;  // SQEs whose final CQE has not arrived
  bool dead = false;
};

io_uring g_ring;
io_uring_buf_ring* g_br = nullptr;
char* g_bufs = nullptr;
unsigned g_nbufs = 1024;
constexpr unsigned kBufSize = 16 * 1024;
bool g_multishot = true;
std::vector<USide*> g_starved;
Op g_accept_op{nullptr, kAccept, 0};
Op g_ignore_op{nullptr, kIgnore, 0};
int g_lfd = -1;

io_uring_sqe* get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&g_ring);
  if (!sqe) {
    io_uring_submit(&g_ring);
    sqe = io_uring_get_sqe(&g_ring);
    if (!sqe) die("io_uring_get_sqe", EBUSY);
  }
  return sqe;
}

void arm_accept() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept(sqe, g_lfd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data(sqe, &g_accept_op);
}

void arm_recv(UConn* c, int i) {
  USide& s = c->s[i];
  io_uring_sqe* sqe = get_sqe();
  if (g_multishot)
    io_uring_prep_recv_multishot(sqe, s.fd, nullptr, 0, 0);
  else
    io_uring_prep_recv(sqe, s.fd, nullptr, kBufSize, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data(sqe, &s.recv_op);
  s.recv_armed = true;
  ++c->refs;
}

void maybe_rearm(UConn* c, int i) {
  USide& s = c->s[i];
  if (!c->dead && !s.recv_armed && !s.starved && s.q.empty()) arm_recv(c, i);
}

void start_send(UConn* c, int i) {
  USide& s = c->s[i];
  if (s.sending || s.q.empty() || c->dead) return;
  const Chunk& k = s.q.front();
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_send(sqe, c->s[1 - i].fd, g_bufs + size_t(k.bid) * kBufSize + k.off, k.len - k.off,
                     MSG_NOSIGNAL);
  io_uring_sqe_set_data(sqe, &s.send_op);
  s.sending = true;
  ++c->refs;
}

void give_back(uint16_t bid) {
  io_uring_buf_ring_add(g_br, g_bufs + size_t(bid) * kBufSize, kBufSize, bid,
                        io_uring_buf_ring_mask(g_nbufs), 0);
  io_uring_buf_ring_advance(g_br, 1);
  if (g_starved.empty()) return;
  std::vector<USide*> parked;
  parked.swap(g_starved);
  for (USide* s : parked) {
    s->starved = false;
    UConn* c = s->recv_op.c;
    maybe_rearm(c, s->recv_op.side);
  }
}

void maybe_free(UConn* c) {
  if (!c->dead || c->refs > 0) return;
  for (auto& s : c->s) {
    for (const Chunk& k : s.q) give_back(k.bid);
    close(s.fd);
  }
  g_starved.erase(std::remove_if(g_starved.begin(), g_starved.end(),
                                 [c](USide* s) { return s->recv_op.c == c; }),
                  g_starved.end());
  delete c;
}

void u_kill(UConn* c) {
  if (c->dead) return;
  c->dead = true;
  for (auto& s : c->s) {
    shutdown(s.fd, SHUT_RDWR);  // wakes a pending recv (0) or send (EPIPE)
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel_fd(sqe, s.fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data(sqe, &g_ignore_op);
  }
  maybe_free(c);
}

void on_accept(const io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
  if (cqe->res < 0) return;
  int cfd = cqe->res;
  int bfd = connect_backend(false);
  if (bfd < 0) {
    close(cfd);
    return;
  }
  auto* c = new UConn;
  int fds[2] = {cfd, bfd};
  for (int k = 0; k < 2; ++k) {
    c->s[k].fd = fds[k];
    c->s[k].recv_op = Op{c, kRecv, static_cast<uint8_t>(k)};
    c->s[k].send_op = Op{c, kSend, static_cast<uint8_t>(k)};
    arm_recv(c, k);
  }
}

void on_recv(UConn* c, int i, const io_uring_cqe* cqe) {
  USide& s = c->s[i];
  if (!(cqe->flags & IORING_CQE_F_MORE)) {
    s.recv_armed = false;
    --c->refs;
  }
  if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
    auto bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    if (c->dead) {
      give_back(bid);
    } else {
      s.q.push_back(Chunk{bid, static_cast<uint32_t>(cqe->res), 0});
      start_send(c, i);
    }
  } else if (cqe->res == -ENOBUFS) {
    if (!c->dead && !s.starved) {
      s.starved = true;
      g_starved.push_back(&s);
    }
  } else if (!c->dead) {
    u_kill(c);  // 0 = end of stream, or an error
  }
  if (c->dead) return maybe_free(c);
  maybe_rearm(c, i);
}

void on_send(UConn* c, int i, const io_uring_cqe* cqe) {
  USide& s = c->s[i];
  s.sending = false;
  --c->refs;
  if (c->dead) return maybe_free(c);
  if (cqe->res < 0) return u_kill(c);
  Chunk& k = s.q.front();
  k.off += static_cast<uint32_t>(cqe->res);
  if (k.off >= k.len) {
    uint16_t bid = k.bid;
    s.q.pop_front();
    give_back(bid);
  }
  start_send(c, i);
  maybe_rearm(c, i);
}

unsigned drain_cq() {
  unsigned head, count = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&g_ring, head, cqe) {
    ++count;
    auto* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
    switch (op->kind) {
      case kAccept: on_accept(cqe); break;
      case kRecv: on_recv(op->c, op->side, cqe); break;
      case kSend: on_send(op->c, op->side, cqe); break;
      case kIgnore: break;
    }
  }
  io_uring_cq_advance(&g_ring, count);
  return count;
}

void run_uring(const sockaddr_in& listen_addr, bool via_eventfd) {
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER;
  if (!via_eventfd) p.flags |= IORING_SETUP_DEFER_TASKRUN;
  else p.flags |= IORING_SETUP_COOP_TASKRUN;
  p.cq_entries = 16384;
  int r = io_uring_queue_init_params(4096, &g_ring, &p);
  if (r < 0) die("io_uring_queue_init_params", -r);

  // The provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring: map it ourselves).
  void* mem = nullptr;
  if (posix_memalign(&mem, 4096, g_nbufs * sizeof(io_uring_buf)) != 0) die("posix_memalign", ENOMEM);
  g_br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(g_br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(g_br);
  reg.ring_entries = g_nbufs;
  reg.bgid = 0;
  r = io_uring_register_buf_ring(&g_ring, &reg, 0);
  if (r < 0) die("io_uring_register_buf_ring", -r);
  g_bufs = static_cast<char*>(std::malloc(size_t(g_nbufs) * kBufSize));
  for (unsigned i = 0; i < g_nbufs; ++i)
    io_uring_buf_ring_add(g_br, g_bufs + size_t(i) * kBufSize, kBufSize, static_cast<uint16_t>(i),
                          io_uring_buf_ring_mask(g_nbufs), static_cast<int>(i));
  io_uring_buf_ring_advance(g_br, static_cast<int>(g_nbufs));

  g_lfd = make_listener(listen_addr, false);
  arm_accept();

  int efd = -1, ep = -1;
  if (via_eventfd) {
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r = io_uring_register_eventfd(&g_ring, efd);
    if (r < 0) die("io_uring_register_eventfd", -r);
    ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  }
  std::fprintf(stderr, "uring_relay: %s mode ready (%s recv, %u x %u B provided buffers)\n",
               via_eventfd ? "uring-efd" : "uring", g_multishot ? "multishot" : "single-shot",
               g_nbufs, kBufSize);
  for (;;) {
    if (!via_eventfd) {
      r = io_uring_submit_and_wait(&g_ring, 1);
      if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) die("io_uring_submit_and_wait", -r);
      drain_cq();
    } else {
      // What a libuv-driven ring would do: flush SQEs, sleep in the loop's epoll on the eventfd.
      io_uring_submit(&g_ring);
      if (drain_cq() > 0) continue;
      epoll_event ev;
      int n = epoll_wait(ep, &ev, 1, -1);
      if (n > 0) {
        uint64_t v;
        ssize_t rd = read(efd, &v, sizeof v);
        (void)rd;
      }
      drain_cq();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "epoll", listen_s, backend_s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "uring_relay: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--mode") mode = next();
    else if (a == "--listen") listen_s = next();
    else if (a == "--backend") backend_s = next();
    else if (a == "--recv") g_multishot = next() != "single";
    else if (a == "--bufs") g_nbufs = static_cast<unsigned>(std::atoi(next().c_str()));
    else {
      std::fprintf(stderr,
                   "usage: uring_relay --mode epoll|uring|uring-efd --listen IP:PORT --backend IP:PORT\n"
                   "                   [--recv multi|single] [--bufs N (power of 2, uring modes)]\n");
      return 2;
    }
  }
  sockaddr_in la;
  if (!parse_addr(listen_s, la) || !parse_addr(backend_s, g_backend)) {
    std::fprintf(stderr, "uring_relay: --listen and --backend take IPv4 IP:PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (mode == "epoll") run_epoll(la);
  else if (mode == "uring") run_uring(la, false);
  else if (mode == "uring-efd") run_uring(la, true);
  else {
    std::fprintf(stderr, "uring_relay: unknown mode %s\n", mode.c_str());
    return 2;
  }
}
