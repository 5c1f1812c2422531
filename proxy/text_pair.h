// Two strings behind one pointer: a session keeps its client's address and its request target until
// its end, for the access-log line, and every idle WebSocket carries them. Held this way they cost 8
// bytes of the session, against 32 for a std::string (the address and the target go to the heap
// together anyway: "127.0.0.1" and "/chat" no longer fit a string's 15 inline bytes).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

namespace ringway {

class TextPair {
 public:
  std::string_view first() const;
  std::string_view second() const;
  // Either may be a view into this pair's own text.
  void set_first(std::string_view text) { assign(text, second()); }
  void set_second(std::string_view text) { assign(first(), text); }

 private:
  // One block: the two sizes, then the first text, then the second. A new block is filled before
  // the old one goes, so views into the old one stay valid while it is copied.
  void assign(std::string_view first, std::string_view second);
  uint32_t size_at(size_t index) const;

  std::unique_ptr<char[]> block_;  // null while both are empty
};

}  // namespace ringway
