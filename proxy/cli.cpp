#include "proxy/cli.h"

namespace ringway {

const char* usage_text() {
  return "usage: ringway -c PATH [--check] [--log-format text|json]\n"
         "       ringway --version\n";
}

std::optional<Options> parse_command_line(const std::vector<std::string>& args, std::string& error) {
  Options options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        error = std::string(flag) + " needs a value";
        return std::nullopt;
      }
      return args[++i];
    };
    if (arg == "-c" || arg == "--config") {
      auto v = value("-c");
      if (!v) return std::nullopt;
      options.config_path = *v;
    } else if (arg == "--check") {
      options.check = true;
    } else if (arg == "--version") {
      options.version = true;
    } else if (arg == "--log-format") {
      auto v = value("--log-format");
      if (!v) return std::nullopt;
      if (*v == "json") {
        options.log_format = log::Format::Json;
      } else if (*v == "text") {
        options.log_format = log::Format::Text;
      } else {
        error = "--log-format must be text or json, not \"" + *v + "\"";
        return std::nullopt;
      }
    } else {
      error = "unknown argument \"" + arg + "\"";
      return std::nullopt;
    }
  }
  if (!options.version && options.config_path.empty()) {
    error = "missing -c PATH";
    return std::nullopt;
  }
  return options;
}

}  // namespace ringway
