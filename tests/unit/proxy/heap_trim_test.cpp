// HeapTrimmer (proxy/heap_trim.h) on a real libuv loop: when it trims, and when it leaves the heap alone.
#include <doctest/doctest.h>

#include <uv.h>

#include "proxy/heap_trim.h"

using ringway::HeapTrimmer;

namespace {

// Runs `body(trimmer)` on a fresh loop, then the loop for twice the trim delay (the trimmer's own
// timer does not keep a loop alive); returns the trims.
template <typename Body>
uint64_t trims_after(Body body) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uint64_t trims = 0;
  {
    HeapTrimmer trimmer(&loop);
    uv_timer_t keep_alive;
    uv_timer_init(&loop, &keep_alive);
    uv_timer_start(&keep_alive, [](uv_timer_t*) {}, 2 * HeapTrimmer::kDelayMs, 0);
    body(trimmer);
    uv_run(&loop, UV_RUN_DEFAULT);
    trims = trimmer.trims();
    trimmer.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&keep_alive), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  return trims;
}

}  // namespace

TEST_CASE("HeapTrimmer: a burst of closes from a large peak trims once, after the delay") {
  uv_loop_t probe;
  uv_loop_init(&probe);
  const uint64_t start = uv_now(&probe);
  uv_loop_close(&probe);
  const uint64_t trims = trims_after([](HeapTrimmer& t) {
    for (uint64_t n = 1; n <= 2000; ++n) t.on_sessions(n);
    for (uint64_t n = 2000; n-- > 0;) t.on_sessions(n);  // every close of the burst: one trim
  });
  CHECK(trims == 1);
  uv_loop_t after;
  uv_loop_init(&after);
  CHECK(uv_now(&after) >= start + HeapTrimmer::kDelayMs);
  uv_loop_close(&after);
}

TEST_CASE("HeapTrimmer: small peaks and shallow drops leave the heap alone") {
  CHECK(trims_after([](HeapTrimmer& t) {
          for (uint64_t n = 1; n < HeapTrimmer::kMinPeak; ++n) t.on_sessions(n);
          t.on_sessions(0);
        }) == 0);
  CHECK(trims_after([](HeapTrimmer& t) {
          t.on_sessions(4000);
          t.on_sessions(2001);  // still more than half of the peak
        }) == 0);
}

TEST_CASE("HeapTrimmer: cancel before the delay means no trim") {
  CHECK(trims_after([](HeapTrimmer& t) {
          t.on_sessions(1000);
          t.on_sessions(10);
          t.cancel();
        }) == 0);
}
