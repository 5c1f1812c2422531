// Internal to conf/: where a problem is in the file, and the list of problems found so far.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace ringway::conf {

// A 1-based position in the file (yaml-cpp counts from 0; Diagnostics users never see that).
struct Mark {
  int line = 1;
  int column = 1;
};

// "text" with the quotes, as names and values are shown in messages.
std::string quoted(std::string_view text);

// Collects every error of one load, so that the operator sees them all at once (like `haproxy -c`).
class Diagnostics {
 public:
  explicit Diagnostics(std::string path);

  void error(Mark at, std::string message);
  [[nodiscard]] bool has_errors() const { return !errors_.empty(); }
  // The errors in file order (errors at one position keep the order they were found in).
  [[nodiscard]] std::vector<ConfigError> take_sorted();

 private:
  std::string path_;
  std::vector<ConfigError> errors_;
};

}  // namespace ringway::conf
