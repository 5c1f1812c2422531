#include "proxy/timer_wheel.h"

#include <algorithm>

namespace ringway {

TimerWheel::TimerWheel(uint64_t now_ms, Fire fire) : fire_(fire), cursor_(now_ms / kSlotMs) {
  for (Link& head : slots_) head.prev = head.next = &head;
}

void TimerWheel::link_before(Link& head, Link& node) {
  node.prev = head.prev;
  node.next = &head;
  head.prev->next = &node;
  head.prev = &node;
}

bool TimerWheel::empty() const {
  return std::all_of(slots_.begin(), slots_.end(), [](const Link& head) { return head.next == &head; });
}

uint64_t TimerWheel::arm(Entry& entry, uint64_t due_ms, uint64_t now_ms) {
  cancel(entry);
  // Nothing armed: the cursor may jump to now (no tick in between holds anything), so that a far
  // deadline is not placed relative to a stale cursor.
  if (cursor_ < now_ms / kSlotMs && empty()) cursor_ = now_ms / kSlotMs;
  entry.due_ms = due_ms;
  // Never into a tick already processed: such an entry fires at the next advance().
  const uint64_t tick = std::max(tick_of(due_ms), cursor_);
  link_before(slot(tick), entry);
  return tick * kSlotMs;
}

void TimerWheel::cancel(Entry& entry) {
  if (!entry.armed()) return;
  entry.prev->next = entry.next;
  entry.next->prev = entry.prev;
  entry.prev = entry.next = nullptr;
}

size_t TimerWheel::advance(uint64_t now_ms) {
  const uint64_t last = now_ms / kSlotMs;  // tick `last` starts at or before now
  if (last < cursor_) return 0;
  const uint64_t first = cursor_;
  // A wheel late by a turn or more looks at each slot once: every entry due is found anyway.
  const uint64_t count = std::min<uint64_t>(last - first + 1, kSlots);
  cursor_ = last + 1;  // entries armed by callbacks from here go to later ticks
  size_t fired = 0;
  for (uint64_t tick = first; tick < first + count; ++tick) {
    Link& head = slot(tick);
    if (head.next == &head) continue;
    // The slot's entries move to a local list, so that callbacks arming into this slot (a later
    // turn) are not seen again now, and cancelling any entry stays a plain unlink.
    Link pending;
    pending.next = head.next;
    pending.prev = head.prev;
    pending.next->prev = &pending;
    pending.prev->next = &pending;
    head.prev = head.next = &head;
    while (pending.next != &pending) {
      Entry& entry = static_cast<Entry&>(*pending.next);
      cancel(entry);
      if (entry.due_ms > now_ms) {
        link_before(head, entry);  // a later turn
        continue;
      }
      ++fired;
      fire_(entry);
    }
  }
  return fired;
}

std::optional<uint64_t> TimerWheel::next_check_ms() const {
  for (uint64_t tick = cursor_; tick < cursor_ + kSlots; ++tick) {
    const Link& head = slots_[tick % kSlots];
    if (head.next != &head) return tick * kSlotMs;
  }
  return std::nullopt;
}

LoopTimers::LoopTimers(uv_loop_t* loop, TimerWheel::Fire fire) : loop_(loop), wheel_(uv_now(loop), fire) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

void LoopTimers::arm(TimerWheel::Entry& entry, uint64_t timeout_ms) {
  const uint64_t now = uv_now(loop_);
  const uint64_t check = wheel_.arm(entry, now + timeout_ms, now);
  if (scheduled_ms_ && *scheduled_ms_ <= check) return;  // the timer wakes in time already
  scheduled_ms_ = check;
  uv_timer_start(&timer_, on_timer, check > now ? check - now : 0, 0);
}

void LoopTimers::cancel(TimerWheel::Entry& entry) {
  // The uv timer keeps running to its next wake-up, where it finds out whether it is still needed.
  TimerWheel::cancel(entry);
}

uint64_t LoopTimers::due_in(const TimerWheel::Entry& entry) const {
  const uint64_t now = uv_now(loop_);
  return entry.armed() && entry.due_ms > now ? entry.due_ms - now : 0;
}

void LoopTimers::close() {
  scheduled_ms_.reset();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  }
}

void LoopTimers::on_timer(uv_timer_t* handle) {
  auto& self = *static_cast<LoopTimers*>(handle->data);
  self.scheduled_ms_.reset();
  self.wheel_.advance(uv_now(self.loop_));
  self.reschedule();
}

void LoopTimers::reschedule() {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) return;
  const std::optional<uint64_t> next = wheel_.next_check_ms();
  if (!next) {
    scheduled_ms_.reset();
    uv_timer_stop(&timer_);
    return;
  }
  if (scheduled_ms_ && *scheduled_ms_ <= *next) return;  // armed from a callback, earlier
  const uint64_t now = uv_now(loop_);
  scheduled_ms_ = *next;
  uv_timer_start(&timer_, on_timer, *next > now ? *next - now : 0, 0);
}

}  // namespace ringway
