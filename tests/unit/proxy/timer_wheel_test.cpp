// The per-loop timing wheel (proxy/timer_wheel.h): driven with explicit times (the pure core), and
// once through a real libuv loop (LoopTimers).
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "proxy/timer_wheel.h"

using ringway::LoopTimers;
using ringway::TimerWheel;

namespace {

// An entry whose callback records when it fired and may do more (re-arm, cancel another).
struct Probe : TimerWheel::Entry {
  int id = 0;
  std::vector<int>* order = nullptr;
  std::function<void(Probe&)> then;
  int fired = 0;
  Probe(int i, std::vector<int>& log) : id(i), order(&log) {}
  static void on_fire(TimerWheel::Entry& e) {
    auto& p = static_cast<Probe&>(e);
    ++p.fired;
    p.order->push_back(p.id);
    if (p.then) p.then(p);
  }
};

// Advances in 1 ms steps to `to`, so that nothing is found later than it should be.
void run_to(TimerWheel& wheel, uint64_t& now, uint64_t to) {
  while (now < to) wheel.advance(++now);
}

}  // namespace

TEST_CASE("an entry fires once its deadline is reached, never before, at most one slot late") {
  std::vector<int> order;
  TimerWheel wheel(1000, &Probe::on_fire);
  Probe a(1, order);
  wheel.arm(a, 1000 + 250, 1000);
  uint64_t now = 1000;
  run_to(wheel, now, 1249);
  CHECK(a.fired == 0);
  run_to(wheel, now, 1250 + TimerWheel::kSlotMs);
  CHECK(a.fired == 1);
  CHECK_FALSE(a.armed());
  CHECK(wheel.empty());
  CHECK_FALSE(wheel.next_check_ms().has_value());
}

TEST_CASE("deadlines in one slot and across slots fire in deadline-slot order") {
  std::vector<int> order;
  TimerWheel wheel(0, &Probe::on_fire);
  Probe a(1, order), b(2, order), c(3, order);
  wheel.arm(c, 300, 0);
  wheel.arm(a, 100, 0);
  wheel.arm(b, 200, 0);
  CHECK(wheel.next_check_ms() == 100);
  uint64_t now = 0;
  run_to(wheel, now, 400);
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("re-arming moves the deadline; cancel removes it") {
  std::vector<int> order;
  TimerWheel wheel(0, &Probe::on_fire);
  Probe a(1, order), b(2, order);
  wheel.arm(a, 50, 0);
  wheel.arm(b, 60, 0);
  wheel.arm(a, 500, 0);  // later
  TimerWheel::cancel(b);
  TimerWheel::cancel(b);  // twice: no-op
  uint64_t now = 0;
  run_to(wheel, now, 499);
  CHECK(order.empty());
  run_to(wheel, now, 520);
  CHECK(order == std::vector<int>{1});
  CHECK(b.fired == 0);
}

TEST_CASE("a timeout spanning several turns fires once, at its deadline") {
  std::vector<int> order;
  TimerWheel wheel(7, &Probe::on_fire);
  Probe a(1, order);
  const uint64_t turn = TimerWheel::kSlots * TimerWheel::kSlotMs;
  const uint64_t due = 7 + 3 * turn + 123;
  wheel.arm(a, due, 7);
  uint64_t now = 7;
  run_to(wheel, now, due - 1);
  CHECK(a.fired == 0);
  CHECK(a.armed());
  run_to(wheel, now, due + TimerWheel::kSlotMs);
  CHECK(a.fired == 1);
}

TEST_CASE("a late advance fires everything due, even more than a turn late, and nothing else") {
  std::vector<int> order;
  TimerWheel wheel(0, &Probe::on_fire);
  Probe a(1, order), b(2, order), c(3, order);
  const uint64_t turn = TimerWheel::kSlots * TimerWheel::kSlotMs;
  wheel.arm(a, 30, 0);
  wheel.arm(b, turn + 500, 0);
  wheel.arm(c, 3 * turn, 0);
  CHECK(wheel.advance(2 * turn) == 2);
  CHECK(order == std::vector<int>{1, 2});
  CHECK(c.armed());
  CHECK(wheel.advance(3 * turn) == 1);
}

TEST_CASE("a callback may cancel an entry of the same slot that has not fired yet") {
  std::vector<int> order;
  TimerWheel wheel(0, &Probe::on_fire);
  Probe a(1, order), b(2, order);
  wheel.arm(a, 100, 0);
  wheel.arm(b, 100, 0);
  a.then = [&](Probe&) { TimerWheel::cancel(b); };
  wheel.advance(100);
  CHECK(order == std::vector<int>{1});
  CHECK(b.fired == 0);
  CHECK(wheel.empty());
}

TEST_CASE("a callback that re-arms itself fires again at the new deadline, not in the same pass") {
  std::vector<int> order;
  TimerWheel wheel(0, &Probe::on_fire);
  Probe a(1, order);
  uint64_t now = 0;
  a.then = [&](Probe& self) {
    if (self.fired < 3) wheel.arm(self, now, now);  // a zero timeout: the next pass
  };
  wheel.arm(a, 20, 0);
  now = 20;
  CHECK(wheel.advance(now) == 1);
  CHECK(a.armed());
  run_to(wheel, now, 20 + 3 * TimerWheel::kSlotMs);
  CHECK(a.fired == 3);
  CHECK_FALSE(a.armed());
}

TEST_CASE("an entry armed with a deadline already passed fires at the next advance") {
  std::vector<int> order;
  TimerWheel wheel(0, &Probe::on_fire);
  Probe a(1, order);
  wheel.advance(1000);
  wheel.arm(a, 500, 1000);
  CHECK(a.fired == 0);
  CHECK(wheel.next_check_ms() <= 1010);
  wheel.advance(1010);
  CHECK(a.fired == 1);
}

TEST_CASE("LoopTimers: one uv timer fires the entries in order and then leaves the loop free") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    LoopTimers timers(&loop, &Probe::on_fire);
    std::vector<int> order;
    Probe a(1, order), b(2, order), c(3, order);
    const uint64_t start = uv_now(&loop);
    uint64_t a_at = 0;
    a.then = [&](Probe&) { a_at = uv_now(&loop); };
    timers.arm(b, 60);
    timers.arm(a, 30);
    timers.arm(c, 90);
    timers.cancel(c);
    CHECK(timers.due_in(a) == 30);
    uv_run(&loop, UV_RUN_DEFAULT);  // returns once no timer is armed: the uv timer stopped
    CHECK(order == std::vector<int>{1, 2});
    CHECK(a_at >= start + 30);
    timers.close();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  CHECK(uv_loop_close(&loop) == 0);
}
