#include "proxy/heap_trim.h"

#include <malloc.h>

#include <string>

#include "proxy/log.h"

namespace ringway {

HeapTrimmer::HeapTrimmer(uv_loop_t* loop) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  // A pending trim never keeps the loop (and so a shutdown) waiting.
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
}

void HeapTrimmer::on_sessions(uint64_t live) {
  live_ = live;
  if (live > peak_) peak_ = live;
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)) != 0 || peak_ < kMinPeak || live > peak_ / 2) return;
  uv_timer_start(&timer_, &HeapTrimmer::fire, kDelayMs, 0);
}

void HeapTrimmer::cancel() { uv_timer_stop(&timer_); }

void HeapTrimmer::close() {
  auto* handle = reinterpret_cast<uv_handle_t*>(&timer_);
  if (uv_is_closing(handle) == 0) uv_close(handle, nullptr);
}

void HeapTrimmer::fire(uv_timer_t* timer) {
  auto& self = *static_cast<HeapTrimmer*>(timer->data);
  const int released = malloc_trim(0);
  ++self.trims_;
  log::event(log::Level::Debug, "heap trimmed after closes",
             {{"peak_sessions", std::to_string(self.peak_)},
              {"live_sessions", std::to_string(self.live_)},
              {"released", released != 0 ? "yes" : "no"}});
  self.peak_ = self.live_;
}

}  // namespace ringway
