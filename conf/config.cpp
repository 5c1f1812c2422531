#include "conf/config.h"

#include <algorithm>

namespace ringway::conf {

const Pool* Config::find_pool(std::string_view name) const {
  const auto found = std::ranges::find(pools, name, &Pool::name);
  return found == pools.end() ? nullptr : &*found;
}

std::string ConfigError::to_string() const {
  return path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": error: " + message;
}

}  // namespace ringway::conf
