// One hashed timing wheel per worker loop, in place of a uv_timer_t (152 bytes) per session: a
// session embeds a 24-byte Entry; arming and cancelling are O(1) list operations, and ONE
// uv_timer_t per loop (LoopTimers) wakes only while entries are armed, at the next occupied slot.
//
// Slots are kSlotMs wide and an entry fires once the loop time has reached its deadline, rounded up
// to its slot (never early, at most kSlotMs late). A deadline further than one turn away stays in
// its slot and is looked at once per turn until it is due. The core (TimerWheel) is pure: time is
// passed in, so tests drive it without a loop.
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace ringway {

class TimerWheel {
 public:
  static constexpr uint64_t kSlotMs = 10;
  static constexpr size_t kSlots = 512;  // one turn: 5.12 s

  struct Link {
    Link* prev = nullptr;
    Link* next = nullptr;
  };
  // Embedded in its owner, which the wheel's callback finds again (e.g. a base class, static_cast
  // back). One callback per wheel, not per entry: every entry of a loop's wheel is a session.
  struct Entry : Link {
    uint64_t due_ms = 0;
    bool armed() const { return next != nullptr; }
  };
  using Fire = void (*)(Entry&);

  // `fire` is called for each entry that is due.
  TimerWheel(uint64_t now_ms, Fire fire);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms (or re-arms) `entry` to fire at `due_ms`; returns the time its slot is looked at. `now_ms`
  // is the current time (it moves an empty wheel forward).
  uint64_t arm(Entry& entry, uint64_t due_ms, uint64_t now_ms);
  static void cancel(Entry& entry);  // no-op when not armed; allowed from inside any callback
  // Fires every entry due at `now_ms`, in slot order; an entry is disarmed before its callback,
  // which may re-arm or cancel any entry. Returns how many fired.
  size_t advance(uint64_t now_ms);
  // When advance() should run next (the first occupied slot's time); none when nothing is armed.
  std::optional<uint64_t> next_check_ms() const;
  bool empty() const;

 private:
  static uint64_t tick_of(uint64_t due_ms) { return (due_ms + kSlotMs - 1) / kSlotMs; }
  Link& slot(uint64_t tick) { return slots_[tick % kSlots]; }
  static void link_before(Link& head, Link& node);

  Fire fire_;
  uint64_t cursor_;  // the first tick not processed yet
  std::array<Link, kSlots> slots_;  // circular lists, each slot its own sentinel
};

// A TimerWheel driven by one uv_timer_t on `loop`, started only while entries are armed.
class LoopTimers {
 public:
  LoopTimers(uv_loop_t* loop, TimerWheel::Fire fire);
  LoopTimers(const LoopTimers&) = delete;
  LoopTimers& operator=(const LoopTimers&) = delete;

  void arm(TimerWheel::Entry& entry, uint64_t timeout_ms);
  void cancel(TimerWheel::Entry& entry);
  // Milliseconds until `entry` is due (0 when due or not armed).
  uint64_t due_in(const TimerWheel::Entry& entry) const;
  // Closes the uv_timer_t (the loop must run once more before this object goes away).
  void close();

 private:
  static void on_timer(uv_timer_t* handle);
  void reschedule();

  uv_loop_t* loop_;
  TimerWheel wheel_;
  uv_timer_t timer_{};
  std::optional<uint64_t> scheduled_ms_;  // when timer_ fires; none while stopped
};

}  // namespace ringway
