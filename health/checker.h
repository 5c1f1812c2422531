// Active health checks on one libuv loop (the process's control loop): one probe per backend of a
// pool with `health_check`, each checking on its own schedule (health/schedule.h), judging with the
// rise/fall machine (health/rise_fall.h), publishing the result in the backend's shared state
// (health, last check) and logging every transition.
//
// Lifecycle (libuv habits): a probe owns its timer and frees itself in the timer's close callback;
// each check is an Attempt that owns its socket and timer and frees itself when both are closed,
// so a probe can stop while a check is in flight. stop() closes everything; after it the loop has
// nothing of ours left and ends.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conf/config.h"
#include "health/backend_state.h"
#include "health/schedule.h"

namespace ringway::health {

// One backend as the checks see it.
struct ProbeTarget {
  std::string pool;
  std::string backend;
  sockaddr_storage address{};
  std::string host;  // Host header of http/websocket checks: the address as written in the file
  std::shared_ptr<BackendState> state;
  std::optional<conf::HealthCheck> check;  // none: no active checks, the backend is assumed up
  bool passive = false;                    // the pool has passive ejection
  // The pool's send_proxy_protocol: checks send a LOCAL header first (HAProxy's check-send-proxy),
  // since a backend that requires the header would refuse a check without one.
  conf::SendProxy send_proxy = conf::SendProxy::Off;
};

// Every backend of a running configuration (proxy's Runtime: pools -> backends with config, state,
// address). A template only so that health/ does not depend on proxy/.
template <typename RuntimeT>
std::vector<ProbeTarget> targets_of(const RuntimeT& runtime) {
  std::vector<ProbeTarget> out;
  for (const auto& pool : runtime.pools) {
    for (const auto& backend : pool->backends) {
      out.push_back(ProbeTarget{pool->config->name, backend->config->name, backend->address,
                                backend->config->address.text, backend->state, pool->config->health_check,
                                pool->config->passive.has_value(), pool->config->send_proxy_protocol});
    }
  }
  return out;
}

class Checker {
 public:
  explicit Checker(uv_loop_t* loop);
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // At start and after each reload: probes of kept backends go on (same settings) or restart with
  // the new ones (their health kept), new backends get a probe, removed ones stop. A backend whose
  // pool has no checks is up; one whose pool lost passive ejection is back in rotation.
  void apply(std::vector<ProbeTarget> targets);
  // Stops every probe (their handles close on the next loop iteration). apply() after stop() is
  // ignored.
  void stop();

  size_t probe_count() const { return probes_.size(); }

 private:
  struct Probe;
  struct Attempt;

  uv_loop_t* loop_;
  Schedule schedule_;
  std::map<std::string, Probe*> probes_;  // by identity (pool NUL backend); freed by their close callbacks
  std::set<Attempt*> attempts_;           // checks whose handles are open (some outlive their probe)
  bool stopped_ = false;
};

}  // namespace ringway::health
