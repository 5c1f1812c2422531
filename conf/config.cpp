#include "conf/config.h"

#include <algorithm>

namespace ringway::conf {

const Pool* Config::find_pool(std::string_view name) const {
  const auto found = std::ranges::find(pools, name, &Pool::name);
  return found == pools.end() ? nullptr : &*found;
}

std::string ConfigError::to_string() const {
  // One error, one line, whatever a message quotes from the file (parser messages included).
  std::string one_line;
  one_line.reserve(message.size());
  for (const char c : message) {
    if (c == '\n') {
      one_line += "\\n";
    } else if (c == '\r') {
      one_line += "\\r";
    } else {
      one_line += c;
    }
  }
  return path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": error: " + one_line;
}

}  // namespace ringway::conf
