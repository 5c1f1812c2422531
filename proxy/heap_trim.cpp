#include "proxy/heap_trim.h"

#include <malloc.h>

#include <string>

#include "proxy/log.h"

namespace ringway {

void HeapTrimmer::on_sessions(uint64_t live) {
  live_ = live;
  if (live > peak_) peak_ = live;
  if (armed() || peak_ < kMinPeak || live > peak_ / 2) return;
  timers_.arm(*this, kDelayMs, &HeapTrimmer::fire);
}

void HeapTrimmer::cancel() { timers_.cancel(*this); }

void HeapTrimmer::fire(TimerWheel::Entry& entry) {
  auto& self = static_cast<HeapTrimmer&>(entry);
  const int released = malloc_trim(0);
  ++self.trims_;
  log::event(log::Level::Debug, "heap trimmed after closes",
             {{"peak_sessions", std::to_string(self.peak_)},
              {"live_sessions", std::to_string(self.live_)},
              {"released", released != 0 ? "yes" : "no"}});
  self.peak_ = self.live_;
}

}  // namespace ringway
