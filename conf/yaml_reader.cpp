#include "conf/yaml_reader.h"

#include <algorithm>
#include <numeric>

namespace ringway::conf {

Mark to_mark(const YAML::Mark& mark) {
  // yaml-cpp uses -1 for "no position" (e.g. the root of an empty document).
  if (mark.line < 0 || mark.column < 0) {
    return Mark{};
  }
  return Mark{.line = mark.line + 1, .column = mark.column + 1};
}

Mark Field::value() const { return node.IsNull() ? key : to_mark(node.Mark()); }

std::string Field::name() const { return path.empty() ? "the top level" : path; }

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quoted(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

void type_error(const Field& field, std::string_view expected, Diagnostics& diag) {
  diag.error(field.value(), field.name() + ": expected " + std::string(expected) + ", found " +
                                describe(field.node));
}

std::vector<Field> list_items(const Field& field, Diagnostics& diag) {
  std::vector<Field> items;
  if (field.node.IsNull()) {
    return items;
  }
  if (!field.node.IsSequence()) {
    type_error(field, "a list", diag);
    return items;
  }
  std::size_t index = 0;
  for (const YAML::Node& item : field.node) {
    const Mark at = item.IsNull() ? field.value() : to_mark(item.Mark());
    items.push_back(
        Field{.node = item, .path = field.path + "[" + std::to_string(index) + "]", .key = at});
    ++index;
  }
  return items;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // One row of the Levenshtein table at a time: keys are short.
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

}  // namespace

std::optional<std::string_view> closest_key(std::string_view key,
                                            std::span<const std::string_view> known_keys) {
  // Two edits catch the usual slips (a missing, doubled or swapped letter) without suggesting
  // unrelated short keys.
  constexpr std::size_t kMaxEdits = 2;
  std::optional<std::string_view> best;
  std::size_t best_distance = kMaxEdits + 1;
  for (const std::string_view known : known_keys) {
    const std::size_t distance = edit_distance(key, known);
    if (distance < best_distance && distance < known.size()) {
      best = known;
      best_distance = distance;
    }
  }
  return best;
}

MapReader::MapReader(Field field, std::span<const std::string_view> known_keys, Diagnostics& diag,
                     bool empty_is_map)
    : field_(std::move(field)), diag_(&diag) {
  if (field_.node.IsNull() && empty_is_map) {
    is_map_ = true;
    return;
  }
  if (!field_.node.IsMap()) {
    type_error(field_, "a map", diag);
    return;
  }
  is_map_ = true;
  for (const auto& entry : field_.node) {
    const Mark key_mark = to_mark(entry.first.Mark());
    if (!entry.first.IsScalar()) {
      diag.error(key_mark, field_.name() + ": expected a key name, found " + describe(entry.first));
      continue;
    }
    const std::string& key = entry.first.Scalar();
    if (std::ranges::find(known_keys, key) == known_keys.end()) {
      std::string message = "unknown key " + quoted(key) + " in " + field_.name();
      if (const auto hint = closest_key(key, known_keys)) {
        message += " (did you mean " + quoted(*hint) + "?)";
      }
      diag.error(key_mark, std::move(message));
      continue;
    }
    const auto first = std::ranges::find(entries_, key, &std::pair<std::string, Field>::first);
    if (first != entries_.end()) {
      // yaml-cpp keeps both entries and lookups see only the first: say which one counts.
      diag.error(key_mark, "duplicate key " + quoted(key) + " in " + field_.name() +
                               " (first at line " + std::to_string(first->second.key.line) + ")");
      continue;
    }
    entries_.emplace_back(
        key, Field{.node = entry.second, .path = child_path(field_.path, key), .key = key_mark});
  }
}

std::optional<Field> MapReader::get(std::string_view key) const {
  const auto found = std::ranges::find(entries_, key, &std::pair<std::string, Field>::first);
  if (found == entries_.end()) {
    return std::nullopt;
  }
  return found->second;
}

std::optional<Field> MapReader::require(std::string_view key) {
  auto found = get(key);
  if (!found && is_map_) {
    diag_->error(field_.value(), field_.name() + ": missing required key " + quoted(key));
  }
  return found;
}

}  // namespace ringway::conf
