#include "proxy/worker_loop.h"

#include <sys/prctl.h>

#include <ctime>

#include "proxy/worker.h"

namespace ringway {
namespace {

enum class Pace : uint8_t {
  Blocking,  // the loop blocks in epoll_wait until something happens (uv_run's own way)
  Polling,   // traffic flows: poll without blocking while there is work
  Slept,     // just slept: this poll tells whether the traffic goes on
};

constexpr uint64_t kNsPerUs = 1000;
constexpr uint64_t kNsPerMs = 1000 * 1000;

void sleep_us(uint32_t us) {
  const timespec delay{0, static_cast<long>(us * kNsPerUs)};
  nanosleep(&delay, nullptr);  // a signal may end it early: the loop simply polls sooner
}

uint64_t thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000 * kNsPerMs + static_cast<uint64_t>(t.tv_nsec);
}

// Whether the worker's thread has been on a CPU most of the recent time. A hot worker is what
// limits the traffic, and a sleep would only idle it: it never sleeps then. Measured over windows
// of loop time, so that the clock is read once per window, not once per iteration.
class BusyMeter {
 public:
  explicit BusyMeter(uv_loop_t* loop) : loop_(loop), window_start_ms_(uv_now(loop)), cpu_start_ns_(thread_cpu_ns()) {}

  bool hot() {
    const uint64_t now_ms = uv_now(loop_);
    const uint64_t elapsed_ms = now_ms - window_start_ms_;
    if (elapsed_ms >= kWorkerBusyWindowMs) {
      const uint64_t cpu_ns = thread_cpu_ns();
      // busy fraction >= kHotPercent / 100, in integers
      hot_ = (cpu_ns - cpu_start_ns_) * 100 >= elapsed_ms * kNsPerMs * kHotPercent;
      window_start_ms_ = now_ms;
      cpu_start_ns_ = cpu_ns;
    }
    return hot_;
  }

 private:
  uv_loop_t* loop_;
  uint64_t window_start_ms_;
  uint64_t cpu_start_ns_;
  bool hot_ = false;
};

}  // namespace

void run_worker_loop(uv_loop_t* loop, Worker& worker) {
  // The sleep's length is the setting, not the setting plus the kernel's default slack of 50 us.
  prctl(PR_SET_TIMERSLACK, kWorkerTimerSlackNs, 0, 0, 0);
  BusyMeter busy(loop);
  Pace pace = Pace::Blocking;
  for (;;) {
    const uint64_t reads_before = worker.reads();
    if (uv_run(loop, pace == Pace::Blocking ? UV_RUN_ONCE : UV_RUN_NOWAIT) == 0) return;
    const uint64_t reads = worker.reads() - reads_before;
    const uint32_t coalescing_us = worker.wakeup_coalescing_us();  // follows reloads
    if (coalescing_us == 0 || busy.hot()) {
      pace = Pace::Blocking;
      continue;
    }
    switch (pace) {
      case Pace::Blocking:
        if (reads >= kFlowingReads) pace = Pace::Polling;
        break;
      case Pace::Polling:
        if (reads == 0) {
          worker.metrics().coalesced_sleeps.add(1);
          sleep_us(coalescing_us);
          pace = Pace::Slept;
        }
        break;
      case Pace::Slept:
        pace = reads == 0 ? Pace::Blocking : Pace::Polling;
        break;
    }
  }
}

}  // namespace ringway
