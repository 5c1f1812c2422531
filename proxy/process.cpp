#include "proxy/process.h"

#include <sys/resource.h>
#include <uv.h>

#include <csignal>
#include <string>

#include "proxy/admin.h"
#include "proxy/log.h"
#include "proxy/runtime.h"
#include "proxy/worker.h"
#include "ringway_version.h"

namespace ringway {
namespace {

// Each proxied WebSocket needs two descriptors: use all the process may have.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

struct Process {
  uv_loop_t* loop;
  Worker worker;
  AdminServer admin;
  uv_signal_t sigterm{};
  uv_signal_t sigint{};
  uv_signal_t sighup{};
  std::shared_ptr<const conf::Config> config;
  bool shutting_down = false;

  explicit Process(uv_loop_t* l) : loop(l), worker(l), admin(l, worker) {}

  void on_stop_signal(int signum) {
    if (shutting_down) {
      log::warn("second stop signal: exiting now", {{"signal", std::to_string(signum)}});
      worker.abort_all();
      finish();
      return;
    }
    shutting_down = true;
    admin.set_shutting_down();
    const conf::Shutdown& s = config->shutdown;
    worker.begin_shutdown(static_cast<uint64_t>(s.delay.count()),
                          static_cast<uint64_t>(s.drain_timeout.count()), [this] { finish(); });
  }

  void on_reload_signal() {
    log::warn("SIGHUP: configuration reload is not implemented yet; keeping the running configuration",
              {{"path", config->path}});
  }

  void finish() {
    admin.stop();
    for (uv_signal_t* s : {&sigterm, &sigint, &sighup}) {
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s))) uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
    }
    log::info("shutdown complete");
  }
};

}  // namespace

int run_process(const Options& options, std::shared_ptr<const conf::Config> config) {
  std::signal(SIGPIPE, SIG_IGN);  // a peer that vanished must not kill the process; writes report EPIPE
  raise_fd_limit();
  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 0;
  {
    Process process(&loop);
    process.config = config;
    std::vector<std::string> errors;
    auto runtime = build_runtime(config, 1, errors);
    if (!runtime) {
      for (const std::string& e : errors) log::error("startup failed", {{"error", e}});
      return 1;
    }
    std::string error;
    if (!process.worker.start(runtime, error)) {
      log::error("startup failed", {{"error", error}});
      uv_run(&loop, UV_RUN_DEFAULT);  // let the closed listeners' callbacks run
      uv_loop_close(&loop);
      return 1;
    }
    if (config->admin.bind && !process.admin.start(*config->admin.bind, error)) {
      log::error("startup failed", {{"error", error}});
      process.worker.abort_all();
      process.finish();
      uv_run(&loop, UV_RUN_DEFAULT);
      uv_loop_close(&loop);
      return 1;
    }
    for (auto [handle, signum] : {std::pair{&process.sigterm, SIGTERM}, std::pair{&process.sigint, SIGINT}}) {
      uv_signal_init(&loop, handle);
      handle->data = &process;
      uv_signal_start(handle, [](uv_signal_t* h, int sig) { static_cast<Process*>(h->data)->on_stop_signal(sig); },
                      signum);
    }
    uv_signal_init(&loop, &process.sighup);
    process.sighup.data = &process;
    uv_signal_start(&process.sighup, [](uv_signal_t* h, int) { static_cast<Process*>(h->data)->on_reload_signal(); },
                    SIGHUP);
    log::info("ringway started", {{"version", RINGWAY_VERSION},
                                  {"config", options.config_path},
                                  {"pid", std::to_string(uv_os_getpid())}});
    uv_run(&loop, UV_RUN_DEFAULT);
    // The worker's own timer is closed here, after every session has gone.
    process.worker.close_handles();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  if (uv_loop_close(&loop) != 0) {
    log::warn("event loop closed with handles still open");
  }
  return status;
}

}  // namespace ringway
