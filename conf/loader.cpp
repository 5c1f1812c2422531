// load_config_text / load_config_file: YAML text -> every error found, or a validated Config.
#include <yaml-cpp/yaml.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "conf/sections.h"

namespace ringway::conf {
namespace {

constexpr std::array<std::string_view, 7> kTopLevelKeys = {
    "listeners", "pools", "websocket", "limits", "timeouts", "shutdown", "admin"};

void read_config(const YAML::Node& root, Config& config, SourceMarks& marks, Diagnostics& diag) {
  MapReader map(Field{.node = root, .path = "", .key = to_mark(root.Mark())}, kTopLevelKeys, diag);
  if (!map.is_map()) {
    return;
  }
  if (const auto field = map.require("listeners")) {
    read_listeners(*field, config, marks, diag);
  }
  if (const auto field = map.require("pools")) {
    read_pools(*field, config, marks, diag);
  }
  if (const auto field = map.get("websocket")) {
    read_websocket(*field, config.websocket, diag);
  }
  if (const auto field = map.get("limits")) {
    read_limits(*field, config.limits, diag);
  }
  if (const auto field = map.get("timeouts")) {
    read_timeouts(*field, config.timeouts, diag);
  }
  if (const auto field = map.get("shutdown")) {
    read_shutdown(*field, config.shutdown, diag);
  }
  if (const auto field = map.get("admin")) {
    read_admin(*field, config.admin, marks, diag);
  }
  // Cross-checks run even after section errors, so one pass shows as much as possible.
  check_references(config, marks, diag);
}

LoadResult failed(Diagnostics& diag) {
  return LoadResult{.config = nullptr, .errors = diag.take_sorted()};
}

}  // namespace

LoadResult load_config_text(const std::string& text, const std::string& path) {
  Diagnostics diag(path);
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    // The parser stops at the first syntax error: there is nothing sound to check after it.
    diag.error(to_mark(e.mark), "invalid YAML: " + e.msg);
    return failed(diag);
  }
  if (documents.empty() || documents.front().IsNull()) {
    diag.error(Mark{},
               R"(the file is empty: a configuration needs at least "listeners" and "pools")");
    return failed(diag);
  }
  if (documents.size() > 1) {
    diag.error(to_mark(documents[1].Mark()),
               "a second YAML document (after \"---\"): a configuration is one document");
  }
  auto config = std::make_shared<Config>();
  config->path = path;
  SourceMarks marks;
  read_config(documents.front(), *config, marks, diag);
  if (diag.has_errors()) {
    return failed(diag);
  }
  return LoadResult{.config = std::move(config), .errors = {}};
}

LoadResult load_config_file(const std::string& path) {
  const auto cannot_read = [&path](int error) {
    return LoadResult{.config = nullptr,
                      .errors = {ConfigError{
                          .path = path,
                          .line = 0,
                          .column = 0,
                          .message = std::string("cannot read file: ") + std::strerror(error)}}};
  };
  const std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"),
                                                                &std::fclose);
  if (!file) {
    return cannot_read(errno);
  }
  std::string text;
  constexpr std::size_t kChunk = std::size_t{64} * 1024;
  std::array<char, kChunk> chunk{};
  std::size_t got = 0;
  while ((got = std::fread(chunk.data(), 1, chunk.size(), file.get())) > 0) {
    text.append(chunk.data(), got);
  }
  // A directory opens fine and fails on the first read (EISDIR).
  if (std::ferror(file.get()) != 0) {
    return cannot_read(errno);
  }
  return load_config_text(text, path);
}

}  // namespace ringway::conf
