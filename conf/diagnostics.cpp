#include "conf/diagnostics.h"

#include <algorithm>
#include <utility>

namespace ringway::conf {

std::string quoted(std::string_view text) {
  // Appended piece by piece: `"\"" + std::string(text)` trips a GCC 12 -Wrestrict false positive.
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out += text;
  out += '"';
  return out;
}

Diagnostics::Diagnostics(std::string path) : path_(std::move(path)) {}

void Diagnostics::error(Mark at, std::string message) {
  errors_.push_back(ConfigError{
      .path = path_, .line = at.line, .column = at.column, .message = std::move(message)});
}

std::vector<ConfigError> Diagnostics::take_sorted() {
  // Checks run section by section and then across sections; sorting gives the reader file order.
  std::ranges::stable_sort(errors_, [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::exchange(errors_, {});
}

}  // namespace ringway::conf
