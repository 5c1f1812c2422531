// load_config_text / load_config_file: YAML text -> every error found, or a validated Config.
#include <algorithm>
#include <optional>
#include <string_view>
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

constexpr std::array<std::string_view, 9> kTopLevelKeys = {
    "listeners", "pools", "websocket", "limits", "timeouts", "shutdown", "admin", "workers",
    "wakeup_coalescing"};

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
  if (const auto field = map.get("workers")) {
    read_workers(*field, config.workers, diag);
  }
  if (const auto field = map.get("wakeup_coalescing")) {
    read_wakeup_coalescing(*field, config.wakeup_coalescing_us, diag);
  }
  // Cross-checks run even after section errors, so one pass shows as much as possible.
  check_references(config, marks, diag);
}

// Anything but blank lines and comments?
bool has_content(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    const size_t first = line.find_first_not_of(" \t\r\xef\xbb\xbf");
    if (first != std::string_view::npos && line[first] != '#') return true;
    pos = end + 1;
  }
  return false;
}

// A document marker ("---" or "..." at column 1, alone or followed by a space) after content
// starts a second document. Inside a block scalar such a line would be indented, so a marker at
// column 1 is always one.
std::optional<Mark> second_document_at(std::string_view text) {
  bool content = false;
  bool ended = false;  // after "...": any further content is a new document
  int line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_number;
    const size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    const auto is_marker = [&](std::string_view marker) {
      return line.substr(0, 3) == marker && (line.size() == 3 || line[3] == ' ' || line[3] == '\t');
    };
    if (is_marker("---")) {
      if (content || ended) return Mark{line_number, 1};
      continue;
    }
    if (is_marker("...")) {
      ended = content;
      continue;
    }
    const size_t first = line.find_first_not_of(" \t\xef\xbb\xbf");
    if (first == std::string_view::npos || line[first] == '#') continue;
    if (ended) return Mark{line_number, 1};
    content = true;
  }
  return std::nullopt;
}

LoadResult failed(Diagnostics& diag) {
  return LoadResult{.config = nullptr, .errors = diag.take_sorted()};
}

}  // namespace

LoadResult load_config_text(const std::string& text, const std::string& path) {
  Diagnostics diag(path);
  // A second document is found in the text rather than with YAML::LoadAll: yaml-cpp 0.7.0 (Debian
  // 12) loops forever, allocating, on some inputs (a file starting with ",": jbeder/yaml-cpp#1040),
  // and a reload must never wedge the running process on a bad file.
  if (const std::optional<Mark> second = second_document_at(text)) {
    diag.error(*second, "a second YAML document (after \"---\"): a configuration is one document");
    return failed(diag);
  }
  YAML::Node document;
  try {
    document = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // The parser stops at the first syntax error: there is nothing sound to check after it.
    diag.error(to_mark(e.mark), "invalid YAML: " + e.msg);
    return failed(diag);
  }
  if (document.IsNull()) {
    if (has_content(text)) {
      diag.error(Mark{}, "invalid YAML: no document could be read from the start of the file");
    } else {
      diag.error(Mark{},
                 R"(the file is empty: a configuration needs at least "listeners" and "pools")");
    }
    return failed(diag);
  }
  std::vector<YAML::Node> documents{document};
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
