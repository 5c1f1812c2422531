// A minimal streaming JSON writer for the admin endpoints (no DOM, correct escaping).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::json {

class Writer {
 public:
  Writer& begin_object() { return open('{'); }
  Writer& end_object() { return close('}'); }
  Writer& begin_array() { return open('['); }
  Writer& end_array() { return close(']'); }
  Writer& key(std::string_view name);
  Writer& string(std::string_view value);
  Writer& number(uint64_t value);
  Writer& boolean(bool value);
  std::string take() { return std::move(out_); }

 private:
  Writer& open(char c);
  Writer& close(char c);
  void separate();

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

void append_escaped(std::string& out, std::string_view text);

}  // namespace ringway::json
