// How a worker thread runs its libuv loop: as uv_run(UV_RUN_DEFAULT) does, but with wakeup
// coalescing while traffic flows (the `wakeup_coalescing` setting).
//
// Why: a worker that has run out of work blocks in epoll_wait, and then each segment that arrives
// for it wakes it up. That wakeup is paid by whoever sent the segment (the kernel does it in the
// sender's write): on loopback that is the client or the backend process, and a wakeup across
// cores costs them an inter-processor interrupt, expensive above all on a VM. Measured on this
// project's VM (README, "Wakeup coalescing"), a worker streaming 4 KiB messages at half load was
// woken 0.29 times per message, HAProxy 0.13-0.16 times, and the client's and the backend's CPU
// per message was 15-40 % higher behind ringway than behind HAProxy.
//
// What: once an iteration of the loop has handled at least kFlowingReads reads (traffic flows on
// several connections at once), the worker keeps polling without blocking while it finds work. When
// a poll finds nothing, it sleeps `wakeup_coalescing` (nanosleep: arriving segments do not wake
// it, and their senders pay no wakeup) and then takes everything that arrived in one batch. If that
// batch is empty, the traffic has stopped and the worker blocks again as usual. A worker that is
// itself the bottleneck (on a CPU for kHotPercent of the last window) never sleeps: in a closed
// loop such as many ping-pong connections, a sleep would only idle it and everyone waiting on it
// (measured: -15 to -20 % round trips per second before this rule, none after).
//
// Cost: a message that arrives while the worker sleeps waits at most that long (50 us by default;
// the worker threads' timer slack is set to 5 us). Light traffic (one read per iteration: a lone
// request and its answer) never triggers it, so an idle proxy's latency is unchanged.
#pragma once

#include <uv.h>

#include <cstdint>

namespace ringway {

class Worker;

// Reads in one iteration from which traffic is taken to be flowing.
inline constexpr uint64_t kFlowingReads = 2;
// A worker whose thread was on a CPU for this share of the last window is "hot": it never sleeps.
inline constexpr uint64_t kHotPercent = 75;
inline constexpr uint64_t kWorkerBusyWindowMs = 10;
// The worker threads' timer slack (PR_SET_TIMERSLACK), so that a sleep lasts what was asked.
inline constexpr unsigned long kWorkerTimerSlackNs = 5000;

// Runs `loop` until it has nothing left to do (uv_run returns 0).
void run_worker_loop(uv_loop_t* loop, Worker& worker);

}  // namespace ringway
