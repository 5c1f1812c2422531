// Internal to conf/: walking the YAML tree while keeping, for every value, the name an operator
// knows it by ("pools[0].backends[1].weight") and its position in the file.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/diagnostics.h"

namespace ringway::conf {

Mark to_mark(const YAML::Mark& mark);

// One value in the file.
struct Field {
  YAML::Node node;
  std::string path;  // "pools[0].backends[1].weight"; "" for the top level
  Mark key;          // the key (or the list item) that holds the value

  // Where errors about the value point. An empty value has no position of its own (yaml-cpp marks
  // the token after it), so its key stands in.
  [[nodiscard]] Mark value() const;
  // The path for messages: "the top level" rather than "".
  [[nodiscard]] std::string name() const;
};

// What a value is, for "expected X, found Y": "a map", "a list", "nothing" or the quoted scalar.
std::string describe(const YAML::Node& node);

// Reports "PATH: expected WHAT, found ..." at the value.
void type_error(const Field& field, std::string_view expected, Diagnostics& diag);

// The items of a list ("" means an empty list). Reports anything else and gives no items.
std::vector<Field> list_items(const Field& field, Diagnostics& diag);

// One YAML map whose keys are all known in advance. Construction reports a value that is not a map,
// each unknown key (with the closest known key as a hint) and each repeated key.
class MapReader {
 public:
  // An empty value counts as an empty map when `empty_is_map` (an optional section written as
  // "admin:" with everything below it commented out).
  MapReader(Field field, std::span<const std::string_view> known_keys, Diagnostics& diag,
            bool empty_is_map = false);

  [[nodiscard]] bool is_map() const { return is_map_; }
  [[nodiscard]] const Field& field() const { return field_; }

  // The value under `key`, if the key is there.
  [[nodiscard]] std::optional<Field> get(std::string_view key) const;
  // Same, but a missing key is reported ("missing required key") at the map.
  std::optional<Field> require(std::string_view key);

 private:
  Field field_;
  Diagnostics* diag_;
  bool is_map_ = false;
  std::vector<std::pair<std::string, Field>> entries_;
};

// The known key nearest to `key` by edit distance, if it is near enough to be a likely typo.
std::optional<std::string_view> closest_key(std::string_view key,
                                            std::span<const std::string_view> known_keys);

}  // namespace ringway::conf
