// ringway's entry point: command line, configuration, then the event loop until shutdown.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "conf/config.h"
#include "proxy/cli.h"
#include "proxy/log.h"
#include "proxy/process.h"
#include "ringway_version.h"

int main(int argc, char** argv) {
  using namespace ringway;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string usage_error;
  const std::optional<Options> options = parse_command_line(args, usage_error);
  if (!options) {
    std::fprintf(stderr, "ringway: %s\n%s", usage_error.c_str(), usage_text());
    return 2;
  }
  if (options->version) {
    std::printf("ringway %s\n", RINGWAY_VERSION);
    return 0;
  }
  log::set_format(options->log_format);

  const conf::LoadResult loaded = conf::load_config_file(options->config_path);
  if (!loaded.errors.empty()) {
    for (const conf::ConfigError& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  if (options->check) {
    std::printf("configuration OK\n");
    return 0;
  }
  return run_process(*options, loaded.config);
}
