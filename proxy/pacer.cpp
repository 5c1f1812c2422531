#include "proxy/pacer.h"

#include "proxy/session.h"

namespace ringway {
namespace {
constexpr uint64_t kTickMs = 10;
}

Pacer::Pacer(uv_loop_t* loop, IntrusiveList<Session>& told)
    : loop_(loop), told_(told), timer_(new uv_timer_t) {
  uv_timer_init(loop_, timer_);
  timer_->data = this;
}

Pacer::~Pacer() {
  waiting_.move_all_to(told_);  // nobody is left in a list that no longer exists
  timer_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Pacer::start(uint64_t delay_ms, uint64_t window_ms, std::function<void()> on_tick) {
  on_tick_ = std::move(on_tick);
  const uint64_t now = uv_now(loop_);
  last_ms_ = now + delay_ms;
  send_by_ms_ = last_ms_ + window_ms * 8 / 10;
  credit_ = 0;
  rng_.seed(static_cast<std::minstd_rand::result_type>(uv_hrtime()));
  threshold_ = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  running_ = true;
  uv_timer_start(
      timer_, [](uv_timer_t* t) { if (t->data) static_cast<Pacer*>(t->data)->tick(); }, delay_ms,
      kTickMs);
}

void Pacer::stop() {
  running_ = false;
  uv_timer_stop(timer_);
}

// Fractional credit: 100 sessions over 10 s owe 0.1 session per 10 ms tick, so one goes every
// 100 ms rather than one per tick. Jitter: a session goes when the credit reaches a random
// threshold in [0, 1) rather than exactly 1, so each leaves at a random moment within its own slot
// of the window: no metronome, yet never more than two in one slot's time (no burst).
void Pacer::tick() {
  const uint64_t now = uv_now(loop_);
  const size_t waiting = waiting_.size();
  if (now + kTickMs >= send_by_ms_) {
    credit_ = static_cast<double>(waiting) + 1.0;  // the window ends: everyone left goes now
  } else if (now > last_ms_) {
    credit_ += static_cast<double>(waiting) * static_cast<double>(now - last_ms_) /
               static_cast<double>(send_by_ms_ - last_ms_);
  }
  if (now > last_ms_) last_ms_ = now;
  while (credit_ >= threshold_) {
    Session* session = waiting_.front();
    if (session == nullptr) break;
    credit_ -= 1.0;
    threshold_ = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    told_.push_back(session->link());
    session->go_away();
  }
  if (on_tick_) on_tick_();  // must not destroy this Pacer (owners reap stopped pacers later)
}

}  // namespace ringway
