// SelectionTable: determinism, health without disruption, balance, weights, backups, retries.
#include "lb/selector.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "lb_test_util.h"

using lbtest::key;
using lbtest::Mask;
using lbtest::pick;
using lbtest::pool;
using ringway::lb::BackendEntry;
using ringway::lb::hash_bytes;
using ringway::lb::LiveView;
using ringway::lb::SelectionTable;

namespace {

std::vector<double> table_shares(const SelectionTable& t, size_t n) {
  std::vector<double> counts(n, 0.0);
  for (const uint16_t b : t.primary_slots()) {
    counts[b] += 1;
  }
  for (double& c : counts) {
    c /= static_cast<double>(t.primary_slots().size());
  }
  return counts;
}

double max_over_mean(const std::vector<double>& v) {
  double sum = 0;
  double max = 0;
  for (const double x : v) {
    sum += x;
    max = std::max(max, x);
  }
  return max / (sum / static_cast<double>(v.size()));
}

}  // namespace

TEST_CASE("hash_bytes is pinned: every instance and platform hashes keys identically") {
  CHECK(hash_bytes("") == 10093396858002077223ULL);
  CHECK(hash_bytes("10.1.2.3") == 5697244408136652192ULL);
  CHECK(hash_bytes("room-7") != hash_bytes("room-8"));
}

TEST_CASE("selection is pinned: the same keys reach the same backend names in every release") {
  const SelectionTable table(pool(10));
  const Mask all(10);
  std::string names;
  for (uint64_t k = 0; k < 64; ++k) {
    names += std::to_string(pick(table, hash_bytes("user-" + std::to_string(k)), all));
  }
  CHECK(hash_bytes(names) == 8562850591087018785ULL);
}

TEST_CASE("configuration order never matters: same key, same backend name") {
  for (const uint32_t n : {3U, 10U, 100U}) {
    CAPTURE(n);
    auto entries = pool(n);
    entries[1].weight = 3;
    entries[n - 1].backup = true;
    auto shuffled = entries;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(n));
    const SelectionTable a(entries);
    const SelectionTable b(shuffled);
    Mask mask_a(n);
    Mask mask_b(n);
    // Take the same backend (by name) down in both, to cover the probe walk and the backup tier.
    mask_a.down(2);
    for (uint32_t i = 0; i < n; ++i) {
      if (shuffled[i].name == entries[2].name) {
        mask_b.down(i);
      }
    }
    uint32_t differing = 0;
    for (uint64_t k = 0; k < 20000; ++k) {
      const uint32_t in_a = pick(a, key(k), mask_a);
      const uint32_t in_b = pick(b, key(k), mask_b);
      REQUIRE(in_a < n);
      REQUIRE(in_b < n);
      differing += entries[in_a].name != shuffled[in_b].name;
    }
    CHECK(differing == 0);
  }
}

TEST_CASE("one backend down moves zero keys of the live backends") {
  for (const uint32_t n : {3U, 10U, 100U}) {
    CAPTURE(n);
    const SelectionTable table(pool(n));
    const uint32_t down = n / 2;
    const Mask all(n);
    Mask one_down(n);
    one_down.down(down);
    uint32_t moved_live = 0;
    uint32_t moved_down = 0;
    uint32_t to_down = 0;
    for (uint64_t k = 0; k < 100000; ++k) {
      const uint32_t before = pick(table, key(k), all);
      const uint32_t after = pick(table, key(k), one_down);
      moved_live += before != down && after != before;
      moved_down += before == down;
      to_down += after == down;
    }
    CHECK(moved_live == 0);
    CHECK(to_down == 0);
    CHECK(moved_down > 0);
  }
}

TEST_CASE("a returning backend gets exactly its own keys back; only homeless keys may join it") {
  const uint32_t n = 10;
  const SelectionTable table(pool(n));
  const Mask all(n);
  Mask b3_down(n);
  b3_down.down(3);
  Mask b3_b7_down(n);
  b3_b7_down.down(3).down(7);
  Mask b7_down(n);  // backend 3 came back while 7 is still down
  b7_down.down(7);
  uint32_t wrong = 0;
  uint32_t homed_on_3 = 0;
  for (uint64_t k = 0; k < 100000; ++k) {
    const uint32_t home = pick(table, key(k), all);
    homed_on_3 += home == 3;
    // Down and up again is a round trip: a key differs while 3 is down iff 3 is its home.
    wrong += (pick(table, key(k), b3_down) != home) != (home == 3);
    // With 7 still down, 3's return takes back every key whose home is 3; the only other keys
    // that change are 7's (walking, they may now stop at 3), and they change only to 3.
    const uint32_t both_down = pick(table, key(k), b3_b7_down);
    const uint32_t after_return = pick(table, key(k), b7_down);
    wrong += home == 3 && after_return != 3;
    wrong += home != 3 && home != 7 && after_return != both_down;
    wrong += home == 7 && after_return != both_down && after_return != 3;
  }
  CHECK(homed_on_3 > 0);
  CHECK(wrong == 0);
}

TEST_CASE("a down backend's keys spread over the survivors in proportion to weight") {
  SUBCASE("equal weights: each of 9 survivors gets 1/9 of the moved keys, within 10%") {
    const uint32_t n = 10;
    const SelectionTable table(pool(n));
    const Mask all(n);
    Mask down(n);
    down.down(4);
    std::vector<double> got(n, 0);
    double moved = 0;
    for (uint64_t k = 0; k < 400000; ++k) {
      if (pick(table, key(k), all) == 4) {
        got[pick(table, key(k), down)] += 1;
        moved += 1;
      }
    }
    for (uint32_t b = 0; b < n; ++b) {
      CAPTURE(b);
      if (b != 4) {
        CHECK(got[b] / moved == doctest::Approx(1.0 / 9).epsilon(0.10));
      }
    }
  }
  SUBCASE("weights 1, 2, 4 receive a down backend's keys 1:2:4, within 10%") {
    std::vector<BackendEntry> entries{
        {"a", 1, false}, {"b", 2, false}, {"c", 4, false}, {"gone", 2, false}};
    const SelectionTable table(entries);
    const Mask all(4);
    Mask down(4);
    down.down(3);
    std::vector<double> got(4, 0);
    double moved = 0;
    for (uint64_t k = 0; k < 400000; ++k) {
      if (pick(table, key(k), all) == 3) {
        got[pick(table, key(k), down)] += 1;
        moved += 1;
      }
    }
    CHECK(got[0] / moved == doctest::Approx(1.0 / 7).epsilon(0.10));
    CHECK(got[1] / moved == doctest::Approx(2.0 / 7).epsilon(0.10));
    CHECK(got[2] / moved == doctest::Approx(4.0 / 7).epsilon(0.10));
  }
}

TEST_CASE("equal weights: no backend owns more than 1.03x the mean share of the table") {
  for (const uint32_t n : {1U, 2U, 3U, 10U, 100U, 1000U}) {
    CAPTURE(n);
    const SelectionTable table(pool(n));
    CHECK(max_over_mean(table_shares(table, n)) <= 1.03);
  }
}

TEST_CASE("weights 1:2:3 give table shares within 2% of 1/6, 2/6, 3/6") {
  const SelectionTable table({{"light", 1, false}, {"medium", 2, false}, {"heavy", 3, false}});
  const auto shares = table_shares(table, 3);
  CHECK(shares[0] == doctest::Approx(1.0 / 6).epsilon(0.02));
  CHECK(shares[1] == doctest::Approx(2.0 / 6).epsilon(0.02));
  CHECK(shares[2] == doctest::Approx(3.0 / 6).epsilon(0.02));
}

TEST_CASE("weights scale-free: 2:4:6 builds the same table as 1:2:3") {
  const SelectionTable a({{"x", 1, false}, {"y", 2, false}, {"z", 3, false}});
  const SelectionTable b({{"x", 2, false}, {"y", 4, false}, {"z", 6, false}});
  CHECK(std::equal(a.primary_slots().begin(), a.primary_slots().end(), b.primary_slots().begin(),
                   b.primary_slots().end()));
}

TEST_CASE("backups receive traffic only when no primary is usable") {
  // Caller order mixes tiers on purpose: indices 1 and 3 are backups.
  const std::vector<BackendEntry> entries{
      {"p0", 1, false}, {"b0", 1, true}, {"p1", 1, false}, {"b1", 1, true}};
  const SelectionTable table(entries);
  const Mask all(4);
  Mask p0_down(4);
  p0_down.down(0);
  Mask primaries_down(4);
  primaries_down.down(0).down(2);
  Mask only_b1(4);
  only_b1.down(0).down(2).down(1);
  std::set<uint32_t> seen_all;
  std::set<uint32_t> seen_p0_down;
  std::set<uint32_t> seen_backups;
  std::set<uint32_t> seen_b1;
  for (uint64_t k = 0; k < 20000; ++k) {
    seen_all.insert(pick(table, key(k), all));
    seen_p0_down.insert(pick(table, key(k), p0_down));
    seen_backups.insert(pick(table, key(k), primaries_down));
    seen_b1.insert(pick(table, key(k), only_b1));
  }
  CHECK(seen_all == std::set<uint32_t>{0, 2});
  CHECK(seen_p0_down == std::set<uint32_t>{2});
  CHECK(seen_backups == std::set<uint32_t>{1, 3});
  CHECK(seen_b1 == std::set<uint32_t>{3});
}

TEST_CASE("no usable backend gives nullopt") {
  const SelectionTable table({{"p", 1, false}, {"b", 1, true}});
  Mask none(2);
  none.down(0).down(1);
  CHECK_FALSE(table.pick(key(1), none.view()).has_value());
  CHECK_FALSE(table.pick(key(1), LiveView{}).has_value());  // an empty mask: nobody usable
  const SelectionTable empty(std::vector<BackendEntry>{});
  const Mask nobody(0);
  CHECK_FALSE(empty.pick(key(1), nobody.view()).has_value());
  CHECK(empty.size() == 0);
}

TEST_CASE("with nearly every backend down the walk still finds the live one") {
  const uint32_t n = 100;
  const SelectionTable table(pool(n));
  Mask one_left(n);
  for (uint32_t i = 0; i < n; ++i) {
    one_left.down(i);
  }
  one_left.usable[42] = 1;
  uint32_t elsewhere = 0;
  for (uint64_t k = 0; k < 5000; ++k) {
    elsewhere += pick(table, key(k), one_left) != 42;
  }
  CHECK(elsewhere == 0);
}

TEST_CASE("retry: excluding the backend already tried picks a different one, deterministically") {
  const uint32_t n = 10;
  const SelectionTable table(pool(n));
  const Mask all(n);
  for (uint64_t k = 0; k < 2000; ++k) {
    const uint32_t first = pick(table, key(k), all);
    Mask tried(n);
    tried.down(first);
    const uint32_t second = pick(table, key(k), tried);
    CHECK(second != first);
    CHECK(pick(table, key(k), tried) == second);  // the same on every call and every instance
    tried.down(second);
    const uint32_t third = pick(table, key(k), tried);
    CHECK(third != first);
    CHECK(third != second);
  }
}

TEST_CASE("moved-from table picks nothing instead of crashing") {
  SelectionTable a(pool(3));
  SelectionTable b(std::move(a));
  const Mask all(3);
  CHECK(b.pick(key(0), all.view()).has_value());
  CHECK(b.size() == 3);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): the behaviour under test
  CHECK_FALSE(a.pick(key(0), all.view()).has_value());
}

TEST_CASE("invalid entries are rejected with a reason, and the constructor throws it") {
  CHECK_FALSE(SelectionTable::validate(pool(5)).has_value());
  auto dup = pool(3);
  dup[2].name = dup[0].name;
  CHECK(SelectionTable::validate(dup) == "duplicate backend name 'backend-0000'");
  auto unnamed = pool(2);
  unnamed[1].name.clear();
  CHECK(SelectionTable::validate(unnamed) == "backend name must not be empty");
  auto zero = pool(2);
  zero[0].weight = 0;
  CHECK(SelectionTable::validate(zero) ==
        "backend 'backend-0000': weight must be in [1, 65535], found 0");
  auto heavy = pool(2);
  heavy[1].weight = 65536;
  CHECK(SelectionTable::validate(heavy).has_value());
  // 1000 backends of weights 100 and 101 alternating: gcd 1, 100500 weight units.
  auto fine_grained = pool(1000);
  for (uint32_t i = 0; i < 1000; ++i) {
    fine_grained[i].weight = 100 + i % 2;
  }
  const auto why = SelectionTable::validate(fine_grained);
  REQUIRE(why.has_value());
  CHECK(why->find("weight units") != std::string::npos);
  CHECK_THROWS_AS(SelectionTable{dup}, std::invalid_argument);
  // The same weights in a coarser unit are fine.
  for (auto& e : fine_grained) {
    e.weight = e.weight == 100 ? 2 : 4;
  }
  CHECK_FALSE(SelectionTable::validate(fine_grained).has_value());
}
