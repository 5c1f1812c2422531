#include "proxy/process.h"

#include <sys/resource.h>
#include <uv.h>

#include <algorithm>
#include <csignal>
#include <string>

#include "health/checker.h"
#include "health/log_sink.h"
#include "proxy/admin.h"
#include "proxy/discovery.h"
#include "proxy/log.h"
#include "proxy/runtime.h"
#include "proxy/tls/server_context.h"
#include "proxy/worker_pool.h"
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

// `workers: auto`: one per core the process may run on (libuv 1.44 counts its CPU affinity mask;
// a container CPU quota is not seen: set `workers` there).
size_t worker_count(const conf::Config& config) {
  if (config.workers != conf::kWorkersAuto) return config.workers;
  return std::clamp<size_t>(uv_available_parallelism(), 1, conf::kMaxWorkers);
}

// The control loop (this thread): signals, admin, health checks, DNS discovery and reloads. The
// workers run on their own threads (proxy/worker_pool.h); everything here reaches them through the
// pool.
struct Process {
  uv_loop_t* loop;
  WorkerPool workers;
  AdminServer admin;
  health::Checker checker;  // active health checks, on this loop
  discovery::Resolver resolver;  // DNS discovery (backends with `discover: dns`), on this loop
  uv_signal_t sigterm{};
  uv_signal_t sigint{};
  uv_signal_t sighup{};
  std::string config_path;
  std::shared_ptr<const conf::Config> config;
  BackendRegistry registry;
  // TLS session-ticket keys for the life of the process: tickets stay valid across reloads.
  tls::TicketKeys ticket_keys = tls::TicketKeys::generate();
  uint64_t generation = 1;
  bool shutting_down = false;

  Process(uv_loop_t* l, size_t worker_threads)
      : loop(l),
        workers(l, worker_threads),
        admin(l, workers),
        checker(l),
        resolver(l, [this] { return on_discovery_change(); }) {}

  void on_stop_signal(int signum) {
    if (shutting_down) {
      log::warn("second stop signal: exiting now", {{"signal", std::to_string(signum)}});
      finish();  // the workers end every session now
      return;
    }
    shutting_down = true;
    admin.set_shutting_down();
    const conf::Shutdown& s = config->shutdown;
    workers.begin_shutdown(static_cast<uint64_t>(s.delay.count()),
                           static_cast<uint64_t>(s.drain_timeout.count()), [this] { finish(); });
  }

  void reload_failed(std::string_view why, std::initializer_list<log::Field> fields) {
    admin.count_reload(false);
    log::event(log::Level::Error, why, fields);
    log::error("reload failed: keeping the running configuration",
               {{"path", config_path}, {"generation", std::to_string(generation)}});
  }

  // SIGHUP: re-read the file; apply it only if it is entirely valid, else change nothing.
  void on_reload_signal() {
    if (shutting_down) return;
    const conf::LoadResult loaded = conf::load_config_file(config_path);
    if (!loaded.errors.empty()) {
      for (const conf::ConfigError& e : loaded.errors) {
        log::error("configuration error", {{"error", e.to_string()}});
      }
      reload_failed("reload: invalid configuration", {{"errors", std::to_string(loaded.errors.size())}});
      return;
    }
    if (worker_count(*loaded.config) != workers.size()) {
      // Threads are made at start: a new count needs a restart. The rest of the file applies.
      log::warn("reload: workers changed; the new count takes effect at the next restart",
                {{"running", std::to_string(workers.size())},
                 {"configured", std::to_string(worker_count(*loaded.config))}});
    }
    std::string failure;
    std::string detail;
    const auto next = install(loaded.config, "reload", failure, detail);
    if (!next) {
      if (detail.empty()) {
        reload_failed(failure, {});
      } else {
        reload_failed(failure, {{"error", detail}});
      }
      return;
    }
    admin.count_reload(true);
    log::info("configuration reloaded", {{"path", config_path},
                                         {"generation", std::to_string(generation)},
                                         {"listeners", std::to_string(next->listeners.size())},
                                         {"pools", std::to_string(next->pools.size())}});
  }

  // The one way a new runtime goes live, for a SIGHUP reload and for new DNS answers alike: built
  // for `next_config` with the latest discovered addresses, applied, then what left drains and the
  // health checks and the resolver follow. On failure: null, nothing changed, `failure` (and
  // `detail`) say why.
  std::shared_ptr<const Runtime> install(const std::shared_ptr<const conf::Config>& next_config,
                                         std::string_view what, std::string& failure, std::string& detail) {
    const std::shared_ptr<const Runtime> previous = workers.runtime();
    std::vector<std::string> errors;
    auto next = build_runtime(next_config, generation + 1, registry, previous.get(), errors, &resolver.addresses());
    if (next && !attach_tls(*next, ticket_keys, errors)) next = nullptr;  // certificates re-read
    if (!next) {
      for (const std::string& e : errors) log::error("configuration error", {{"error", e}});
      failure = std::string(what) + ": cannot build the new configuration";
      return nullptr;
    }
    if (!workers.apply_runtime(next, detail)) {
      failure = std::string(what) + ": cannot apply the new configuration";
      return nullptr;
    }
    if (!restart_admin_if_moved(*next_config)) {
      // The admin listener could not move; the rest of the configuration is in force.
      log::error("reload: admin listener kept on its old address");
    }
    registry.retain_only(*next);
    generation = next->generation;
    config = next_config;
    drain_what_left(*previous, *next);
    checker.apply(health::targets_of(*next));  // kept backends keep their probes; new ones start
    resolver.configure(*next_config);          // names added by a reload are resolved at once
    return next;
  }

  // New DNS answers (proxy/discovery.h): the running configuration again, with the new addresses;
  // removed addresses drain, new ones join, kept ones keep their state.
  bool on_discovery_change() {
    if (shutting_down) return true;
    std::string failure;
    std::string detail;
    const auto next = install(config, "discovery", failure, detail);
    if (!next) {
      log::error("discovery: keeping the running backends",
                 {{"error", detail.empty() ? failure : failure + ": " + detail}});
      return false;
    }
    log::info("discovered backends applied", {{"generation", std::to_string(generation)}});
    return true;
  }

  // Backends that left the configuration, or whose `drain` turned true, drain their connections;
  // those whose `drain` turned false stop draining.
  void drain_what_left(const Runtime& previous, const Runtime& next) {
    for (const auto& old_pool : previous.pools) {
      const PoolRuntime* new_pool = next.find_pool(old_pool->config->name);
      for (const auto& backend : old_pool->backends) {
        const std::string label = old_pool->config->name + "/" + backend->config->name;
        const size_t kept = new_pool != nullptr ? new_pool->backend_index(backend->config->name) : std::string_view::npos;
        if (kept == std::string_view::npos) {
          backend->state->draining.store(true, std::memory_order_relaxed);
          log::info("backend removed by reload: draining", {{"backend", label}});
          // The pool's window as the operator just wrote it, if the pool is still there.
          const conf::Pool& window_from = new_pool != nullptr ? *new_pool->config : *old_pool->config;
          workers.drain_backend(backend->state, label, static_cast<uint64_t>(window_from.drain_timeout.count()));
          continue;
        }
        const conf::Backend& now = *new_pool->backends[kept]->config;
        if (now.drain && !backend->config->drain) {
          workers.drain_backend(backend->state, label, static_cast<uint64_t>(new_pool->config->drain_timeout.count()));
        } else if (!now.drain && backend->config->drain) {
          workers.undrain_backend(backend->state);
        }
      }
    }
  }

  bool restart_admin_if_moved(const conf::Config& next) {
    const auto text = [](const std::optional<conf::Endpoint>& e) { return e ? e->text : std::string(); };
    if (text(next.admin.bind) == text(config->admin.bind)) return true;
    if (!next.admin.bind) {
      admin.stop();
      return true;
    }
    std::string error;
    if (admin.start(*next.admin.bind, error)) return true;
    log::error("admin listener failed", {{"error", error}});
    return false;
  }

  // Everything on the control loop closes and the workers exit (ending what sessions are left): the
  // loop then ends, and run_process joins the threads.
  void finish() {
    workers.stop();
    admin.stop();
    checker.stop();
    resolver.stop();
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
  health::set_log_sink([](health::LogLevel level, std::string_view message, std::initializer_list<log::Field> fields) {
    log::event(level == health::LogLevel::Warn ? log::Level::Warn : log::Level::Info, message, fields);
  });
  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 0;
  {
    const size_t worker_threads = worker_count(*config);
    Process process(&loop, worker_threads);
    process.config = config;
    process.config_path = options.config_path;
    // Signals first: every exit path below (finish()) closes them.
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
    std::vector<std::string> errors;
    // Discovered names have no answer yet: their entries get backends when they do (a rebuild).
    auto runtime = build_runtime(config, 1, process.registry, nullptr, errors, &process.resolver.addresses());
    if (runtime && !attach_tls(*runtime, process.ticket_keys, errors)) runtime = nullptr;
    std::string error;
    const bool started = runtime && process.workers.start(runtime, error) &&
                         (!config->admin.bind || process.admin.start(*config->admin.bind, error));
    if (!started) {
      for (const std::string& e : errors) log::error("startup failed", {{"error", e}});
      if (!error.empty()) log::error("startup failed", {{"error", error}});
      status = 1;
      process.finish();
      uv_run(&loop, UV_RUN_DEFAULT);  // let every close callback run
    } else {
      process.checker.apply(health::targets_of(*runtime));
      process.resolver.configure(*config);
      log::info("ringway started", {{"version", RINGWAY_VERSION},
                                    {"config", options.config_path},
                                    {"workers", std::to_string(worker_threads)},
                                    {"pid", std::to_string(uv_os_getpid())}});
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    process.workers.join();  // their loops end once their last session has closed
  }
  if (uv_loop_close(&loop) != 0) {
    log::warn("event loop closed with handles still open");
  }
  return status;
}

}  // namespace ringway
