// Paced going-away: tells a list of sessions to go away (Close 1001) spread evenly over a window,
// so that clients reconnect elsewhere at a steady rate instead of all in the same second (the
// reconnect storm that cutting every connection at once causes). Used by graceful shutdown and by
// backend drains.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <random>

#include "proxy/session_list.h"

namespace ringway {

class Session;

class Pacer {
 public:
  // `told`: where sessions go once told (so nobody is told twice).
  Pacer(uv_loop_t* loop, IntrusiveList<Session>& told);
  ~Pacer();
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  IntrusiveList<Session>& waiting() { return waiting_; }

  // Starts telling the waiting sessions after `delay_ms`, the last one at 80% of `window_ms` (so
  // that the close handshakes finish within the window). `on_tick` runs after every tick.
  void start(uint64_t delay_ms, uint64_t window_ms, std::function<void()> on_tick);
  void stop();
  bool running() const { return running_; }

 private:
  void tick();

  uv_loop_t* loop_;
  IntrusiveList<Session>& told_;
  IntrusiveList<Session> waiting_;
  uv_timer_t* timer_;  // heap: its close callback may run after the Pacer is gone
  std::function<void()> on_tick_;
  uint64_t send_by_ms_ = 0;
  uint64_t last_ms_ = 0;
  double credit_ = 0;
  double threshold_ = 0;  // the credit at which the next session goes: random in [0, 1) (jitter)
  std::minstd_rand rng_;
  bool started_ = false;
  bool running_ = false;
};

}  // namespace ringway
