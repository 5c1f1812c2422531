// The command line (contract: "Command line").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "proxy/log.h"

namespace ringway {

struct Options {
  std::string config_path;
  bool check = false;
  bool version = false;
  log::Format log_format = log::Format::Text;
};

// Parses argv; on a usage error returns nullopt with the message in `error` (exit status 2).
std::optional<Options> parse_command_line(const std::vector<std::string>& args, std::string& error);

const char* usage_text();

}  // namespace ringway
