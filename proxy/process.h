// The running process: the control loop (signals, admin, health checks, discovery, reloads) and the
// worker threads (proxy/worker_pool.h).
#pragma once

#include <memory>

#include "conf/config.h"
#include "proxy/cli.h"

namespace ringway {

// Runs until shutdown; returns the exit status.
int run_process(const Options& options, std::shared_ptr<const conf::Config> config);

}  // namespace ringway
