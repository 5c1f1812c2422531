// A listener as one worker holds it: its listening socket and the counters its sessions update.
// Apart from Worker so that a Session, which keeps a reference to its listener, does not need the
// whole worker to be declared.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "proxy/metrics.h"
#include "proxy/runtime.h"
#include "proxy/shared_counts.h"

namespace ringway {

class Worker;

// A listening socket opened by the control thread for this worker (proxy/listen_socket.h), with the
// listener's counters.
struct ListenerSocket {
  std::string bind_key;  // net::address_text of the bind
  int fd = -1;
  std::shared_ptr<ListenerCounters> counters;
};

struct ListenerState {
  ListenerState(std::shared_ptr<ListenerCounters> c, size_t worker_index)
      : counters(std::move(c)),
        active(counters->slot(worker_index).active),
        total(counters->slot(worker_index).total) {}

  Worker* worker = nullptr;
  std::string name;
  const ListenerRuntime* runtime = nullptr;  // inside the worker's current Runtime
  uv_tcp_t handle{};
  std::string bind_key;  // the resolved bind address: a reload keeps the socket when it matches
  bool closing = false;
  bool closed = false;   // the close callback has run
  // The accepted sockets inherit TCP_NODELAY from this listening socket (seen on the first one).
  bool nodelay_checked = false;
  bool nodelay_inherited = false;
  std::shared_ptr<ListenerCounters> counters;  // summed over the workers by /metrics
  metrics::Counter& active;  // this worker's sessions accepted here and not yet finished
  metrics::Counter& total;
};

}  // namespace ringway
