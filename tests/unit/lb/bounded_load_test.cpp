// Bounded loads: the capacity formula, and the ceiling holding under arrivals and departures.
#include "lb/bounded_load.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "lb/selector.h"
#include "lb_test_util.h"

using lbtest::key;
using lbtest::pool;
using ringway::lb::counter_pointers;
using ringway::lb::LiveView;
using ringway::lb::SelectionTable;
namespace bounded = ringway::lb::bounded;

TEST_CASE("bounded loads are off for factors <= 1 or NaN, and read in thousandths otherwise") {
  CHECK(bounded::factor_milli(0.0) == 0);
  CHECK(bounded::factor_milli(1.0) == 0);
  CHECK(bounded::factor_milli(-2.0) == 0);
  CHECK(bounded::factor_milli(std::numeric_limits<double>::quiet_NaN()) == 0);
  CHECK(bounded::factor_milli(1.25) == 1250);
  CHECK(bounded::factor_milli(1.0004) == 1000);
  CHECK(bounded::factor_milli(1e9) == 1000000);
}

TEST_CASE("capacity is ceil(factor * (total + 1) / usable), counting the connection placed") {
  CHECK(bounded::capacity(0, 1, 1250) == 2);     // ceil(1.25 * 1 / 1)
  CHECK(bounded::capacity(0, 10, 1250) == 1);    // ceil(0.125): an idle pool admits anyone
  CHECK(bounded::capacity(99, 10, 1250) == 13);  // ceil(12.5)
  CHECK(bounded::capacity(79, 10, 1250) == 10);  // ceil(10.0) exactly, no rounding up
  CHECK(bounded::capacity(99, 10, 1000) == 10);  // factor 1: perfect balance
  CHECK(bounded::capacity(uint64_t{1} << 62U, 1, 1000000) > 0);  // clamped, no overflow
}

TEST_CASE("a full first choice is passed over for the next candidate of the same walk") {
  const uint32_t n = 10;
  const SelectionTable table(pool(n));
  std::vector<uint8_t> usable(n, 1);
  std::vector<std::atomic<uint32_t>> active(n);
  const LiveView unbounded{usable, {}, 0.0};
  const auto counters = counter_pointers(active);
  const LiveView bounded_view{usable, counters, 1.25};
  for (uint64_t k = 0; k < 200; ++k) {
    const uint32_t home = *table.pick(key(k), unbounded);
    for (auto& a : active) {
      a.store(10);
    }
    CHECK(*table.pick(key(k), bounded_view) == home);  // 10 < ceil(1.25 * 101 / 10) = 13
    active[home].store(13);                            // now at capacity ceil(1.25 * 104 / 10)
    const uint32_t spilled = *table.pick(key(k), bounded_view);
    CHECK(spilled != home);
    // The spill follows the same walk as a down backend would: instances agree.
    std::vector<uint8_t> without_home(n, 1);
    without_home[home] = 0;
    CHECK(spilled == *table.pick(key(k), LiveView{without_home, {}, 0.0}));
  }
}

TEST_CASE("bounded loads: the ceiling is never exceeded over arrivals and random departures") {
  for (const uint32_t n : {3U, 10U, 100U}) {
    CAPTURE(n);
    const SelectionTable table(pool(n));
    std::vector<uint8_t> usable(n, 1);
    usable[n / 2] = 0;  // one backend down: it is out of the mean and out of the picks
    std::vector<std::atomic<uint32_t>> active(n);
    const auto counters = counter_pointers(active);
    const LiveView live{usable, counters, 1.25};
    const uint64_t milli = bounded::factor_milli(1.25);
    std::vector<uint32_t> connections;
    std::mt19937_64 rng(n);
    uint32_t over = 0;
    uint32_t on_down = 0;
    for (uint32_t arrival = 0; arrival < 30000; ++arrival) {
      uint64_t total = 0;
      for (const auto& a : active) {
        total += a.load();
      }
      const uint64_t ceiling = bounded::capacity(total, n - 1, milli);
      const uint32_t b = *table.pick(key(arrival), live);
      over += active[b].fetch_add(1) + 1 > ceiling;
      on_down += b == n / 2;
      connections.push_back(b);
      if (connections.size() > 20 * n || rng() % 3 == 0) {
        const size_t victim = rng() % connections.size();
        active[connections[victim]].fetch_sub(1);
        connections[victim] = connections.back();
        connections.pop_back();
      }
    }
    CHECK(over == 0);
    CHECK(on_down == 0);
  }
}

TEST_CASE("bounded loads never refuse while some usable backend exists") {
  const uint32_t n = 5;
  const SelectionTable table(pool(n));
  std::vector<uint8_t> usable(n, 1);
  std::vector<std::atomic<uint32_t>> active(n);
  for (auto& a : active) {
    a.store(1000);  // a racy snapshot can make everyone look full
  }
  active[2].store(5000);
  const auto counters = counter_pointers(active);
  const LiveView live{usable, counters, 1.25};
  uint32_t refused = 0;
  for (uint64_t k = 0; k < 1000; ++k) {
    refused += !table.pick(key(k), live).has_value();
  }
  CHECK(refused == 0);
}
