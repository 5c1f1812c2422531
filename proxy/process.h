// The running process: the loop, the worker, the admin server and the signals.
#pragma once

#include <memory>

#include "conf/config.h"
#include "proxy/cli.h"

namespace ringway {

// Runs until shutdown; returns the exit status.
int run_process(const Options& options, std::shared_ptr<const conf::Config> config);

}  // namespace ringway
