// The access log and end-of-connection metrics for mode: tcp connections: no upgrade is ever
// counted (there is none), and who ended it follows the close reason alone.
#include <doctest/doctest.h>

#include <string>

#include "proxy/access_log.h"
#include "proxy/metrics.h"

using namespace ringway;
using namespace ringway::metrics;

TEST_CASE("a tcp connection that timed out on its backend's TLS handshake counts no upgrade") {
  WorkerMetrics m;
  health::BackendState backend;
  access::ConnectionRecord r;
  r.tcp = true;
  r.reason = CloseReason::UpstreamTimeout;  // backend_tls handshake not finished in time
  r.backend = "b1";
  r.backend_state = &backend;
  access::connection_ended(m, r);
  for (const auto& slot : backend.stats.upgrades) CHECK(slot.load() == 0);
  CHECK(m.closed[static_cast<size_t>(CloseReason::UpstreamTimeout)].get() == 1);
}

TEST_CASE("a tcp connection's end is told by its reason") {
  access::ConnectionRecord r;
  r.tcp = true;
  r.reason = CloseReason::BackendClosed;
  CHECK(std::string(access::closed_by(r)) == "backend");
  CHECK(access::close_code(r) == -1);

  r.reason = CloseReason::Shutdown;  // the FIN at a drain deadline
  r.marks.go_away = GoAway::Drain;
  CHECK(std::string(access::closed_by(r)) == "ringway");
  CHECK(std::string(access::ringway_reason(r)) == "drain");

  r.reason = CloseReason::NoBackend;  // closed unanswered
  CHECK(std::string(access::closed_by(r)) == "ringway");
}

TEST_CASE("refused tcp connections count their error kind") {
  WorkerMetrics m;
  for (const CloseReason reason : {CloseReason::NoBackend, CloseReason::ConnectFailed, CloseReason::Overloaded}) {
    access::ConnectionRecord r;
    r.tcp = true;
    r.reason = reason;
    access::connection_ended(m, r);
  }
  CHECK(m.errors[static_cast<size_t>(ErrorKind::NoBackend)].get() == 1);
  CHECK(m.errors[static_cast<size_t>(ErrorKind::ConnectFailed)].get() == 1);
  CHECK(m.closed[static_cast<size_t>(CloseReason::Overloaded)].get() == 1);
}
