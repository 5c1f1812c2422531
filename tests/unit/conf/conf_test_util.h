// Helpers for the conf tests: load YAML written inline and compare errors as printed.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace ringway::conf::test {

// Raw string literals start with a newline so that the YAML can begin at column 1 on its own
// line; dropping it makes line 1 of the literal line 1 of the file.
inline std::string yaml(std::string_view text) {
  if (text.starts_with('\n')) {
    text.remove_prefix(1);
  }
  return std::string(text);
}

// Every error for `text` loaded as "t.yaml", one per line, exactly as `ringway --check` prints
// them.
inline std::string errors_of(std::string_view text) {
  const LoadResult result = load_config_text(yaml(text), "t.yaml");
  std::string out;
  for (const ConfigError& error : result.errors) {
    out += error.to_string();
    out += '\n';
  }
  return out;
}

// A config that must load; fails the test (and returns an empty Config) otherwise.
inline Config load_ok(std::string_view text) {
  const LoadResult result = load_config_text(yaml(text), "t.yaml");
  if (!result.config) {
    std::string all;
    for (const ConfigError& error : result.errors) {
      all += error.to_string() + "\n";
    }
    throw std::runtime_error("expected a valid config, got:\n" + all);
  }
  return *result.config;
}

// The smallest valid file: one listener on 127.0.0.1:8080 and one pool "chat" with one backend,
// 9 lines, so that a top-level key appended after it is on line 10.
inline constexpr std::string_view kMinimalConfig = R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
pools:
  - name: chat
    backends:
      - name: a
        address: "127.0.0.1:9001"
)";

}  // namespace ringway::conf::test
