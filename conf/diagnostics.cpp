#include "conf/diagnostics.h"

#include <algorithm>
#include <utility>

namespace ringway::conf {

// Control characters are escaped so that an error is always one line (a value may hold a line
// break or a carriage return that would otherwise split or garble it on a terminal).
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
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
