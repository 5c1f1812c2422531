// A token bucket in integer milli-tokens (no floating point drift): `rate` tokens per second, at
// most `burst` saved up. Pure and tiny (24 bytes): one per connection and kind of frame.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ringway::ws {

class TokenBucket {
 public:
  // burst 0 means one second's worth (= rate). Starts full.
  void configure(uint32_t rate_per_second, uint32_t burst, uint64_t now_ms) {
    rate_ = rate_per_second;
    capacity_ = uint64_t{burst == 0 ? rate_per_second : burst} * 1000;
    tokens_ = capacity_;
    last_ms_ = now_ms;
  }
  bool enabled() const { return rate_ != 0; }

  // Takes one token if there is one. rate tokens/s is exactly rate milli-tokens per millisecond.
  bool take(uint64_t now_ms) {
    if (rate_ == 0) return true;
    if (now_ms > last_ms_) {
      tokens_ = std::min(capacity_, tokens_ + (now_ms - last_ms_) * rate_);
      last_ms_ = now_ms;
    }
    if (tokens_ < 1000) return false;
    tokens_ -= 1000;
    return true;
  }

 private:
  uint64_t tokens_ = 0;
  uint64_t capacity_ = 0;
  uint64_t last_ms_ = 0;
  uint32_t rate_ = 0;
};

}  // namespace ringway::ws
