// Gives the memory of closed connections back to the system after a burst of closes.
//
// glibc's malloc keeps freed memory in its arenas (one per worker thread): after 9,000 WebSockets
// close, their sessions' pages stay in the process's RSS (about +8 MiB at 9,000, measured by
// tools/bench/run) although nothing uses them, which an operator watching a sidecar's memory
// reads as a leak. malloc_trim(0) returns every whole free page of every arena (madvise), so the
// RSS comes back to near the fresh process's.
//
// It is not free (it walks the arenas, taking each one's lock, a few ms with a large heap), so it
// runs at most once per kDelayMs per worker, only after the worker's live sessions dropped to half
// of their peak since the last trim, and only when that peak was large enough to matter.
#pragma once

#include <uv.h>

#include <cstdint>

namespace ringway {

// Its own uv_timer_t (one per worker): the worker's timer wheel serves sessions only.
class HeapTrimmer {
 public:
  static constexpr uint64_t kMinPeak = 512;    // fewer sessions than this hold < 1 MiB: not worth it
  static constexpr uint64_t kDelayMs = 1000;   // coalesces a burst of closes into one trim

  explicit HeapTrimmer(uv_loop_t* loop);
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // The worker's live session count after a session started or finished.
  void on_sessions(uint64_t live);
  void cancel();
  // Closes the timer (the loop must run once more before this object goes away).
  void close();
  uint64_t trims() const { return trims_; }

 private:
  static void fire(uv_timer_t* timer);

  uv_timer_t timer_{};
  uint64_t peak_ = 0;  // most live sessions since the last trim
  uint64_t live_ = 0;
  uint64_t trims_ = 0;
};

}  // namespace ringway
