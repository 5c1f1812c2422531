// lbbench: ringway's selection table (lb/selector.h) against a ketama reference ring, side by side,
// for the targets of issue 3. Every random stream has a fixed seed: two runs print the same
// numbers except for timings.
//
//   lbbench            full run (under a minute on the 2-core dev box)
//   lbbench --quick    a small run for smoke tests
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ketama.h"
#include "lb/selector.h"
#include "segments.h"

namespace lbbench {
namespace {

using ringway::lb::BackendEntry;
using ringway::lb::LiveView;
using ringway::lb::SelectionTable;
using Clock = std::chrono::steady_clock;

constexpr size_t kBackendCounts[] = {3, 10, 100, 1000};
constexpr uint64_t kKeySeed = 20240611;
constexpr double kBalanceFactor = 1.25;

struct Options {
  uint64_t balance_keys = 10'000'000;
  uint64_t many_keys = 100'000'000;  // one extra ringway run at N=1000, below the noise of 10M
  uint64_t disruption_keys = 10'000'000;
  uint32_t config_trials = 5;     // backends removed / added, one at a time
  uint32_t arrivals = 100'000;    // bounded-load simulation
  uint32_t per_backend_pop = 32;  // steady population per backend in that simulation
  uint32_t lookup_rounds = 4;     // passes over the lookup key set
  uint32_t build_reps = 9;
};

Options quick_options() {
  Options o;
  o.balance_keys = 200'000;
  o.many_keys = 0;
  o.disruption_keys = 200'000;
  o.config_trials = 2;
  o.arrivals = 10'000;
  o.lookup_rounds = 1;
  o.build_reps = 1;
  return o;
}

// ringway under the same interface as the reference.
struct Ringway {
  SelectionTable table;
  explicit Ringway(const std::vector<BackendEntry>& entries) : table(entries) {}
  static uint64_t hash_key(std::string_view key) { return ringway::lb::hash_bytes(key); }
  [[nodiscard]] std::optional<uint32_t> pick(uint64_t h, const LiveView& live) const {
    return table.pick(h, live);
  }
};

// Backend i is "backend-%04d" with stable id i, whatever its position in a configuration.
std::string backend_name(uint32_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "backend-%04u", id);
  return buf;
}

std::vector<BackendEntry> make_entries(size_t n, bool weights_123 = false) {
  std::vector<BackendEntry> entries;
  for (uint32_t i = 0; i < n; ++i) {
    entries.push_back(BackendEntry{backend_name(i), weights_123 ? 1 + i % 3 : 1, false});
  }
  return entries;
}

std::vector<uint32_t> identity_ids(size_t n) {
  std::vector<uint32_t> ids(n);
  for (uint32_t i = 0; i < n; ++i) {
    ids[i] = i;
  }
  return ids;
}

// 16-byte random keys from a seeded generator.
class KeyStream {
 public:
  explicit KeyStream(uint64_t seed) : rng_(seed) {}
  std::string_view next() {
    const uint64_t words[2] = {rng_(), rng_()};
    std::memcpy(bytes_, words, sizeof bytes_);
    return {bytes_, sizeof bytes_};
  }

 private:
  std::mt19937_64 rng_;
  char bytes_[16] = {};
};

double max_over_mean(const std::vector<double>& values) {
  double sum = 0;
  double max = 0;
  for (const double v : values) {
    sum += v;
    max = std::max(max, v);
  }
  return max / (sum / static_cast<double>(values.size()));
}

template <class Algo>
std::vector<double> key_counts(const Algo& algo, size_t n, uint64_t keys, const LiveView& live) {
  std::vector<double> counts(n, 0.0);
  KeyStream stream(kKeySeed);
  for (uint64_t k = 0; k < keys; ++k) {
    counts[*algo.pick(Algo::hash_key(stream.next()), live)] += 1;
  }
  return counts;
}

struct Mask {
  std::vector<uint8_t> usable;
  explicit Mask(size_t n) : usable(n, 1) {}
  [[nodiscard]] LiveView view() const { return LiveView{usable, {}, 0.0}; }
};

// 1. Balance, equal weights.
void balance(const Options& o) {
  std::printf("\n[1] balance, equal weights: max share / mean share (target <= 1.03)\n");
  std::printf("%6s | %9s %14s | %9s %14s | %s\n", "N", "ringway", "ringway", "ketama", "ketama",
              "keys");
  std::printf("%6s | %9s %14s | %9s %14s |\n", "", "table", "random keys", "ring", "random keys");
  for (const size_t n : kBackendCounts) {
    const auto entries = make_entries(n);
    const auto ids = identity_ids(n);
    const Ringway rw(entries);
    const KetamaRing kr(entries);
    const Mask all(n);
    std::printf("%6zu | %9.4f %14.4f | %9.4f %14.4f | %llu\n", n,
                max_over_mean(shares(segments_of(rw.table, ids), n)),
                max_over_mean(key_counts(rw, n, o.balance_keys, all.view())),
                max_over_mean(shares(segments_of(kr, ids), n)),
                max_over_mean(key_counts(kr, n, o.balance_keys, all.view())),
                static_cast<unsigned long long>(o.balance_keys));
  }
  // A perfect split of K keys over N backends still shows max/mean ~ 1 + sqrt(2 ln N * N / K).
  const auto noise = [](double n, uint64_t keys) {
    return 1 + std::sqrt(2 * std::log(n) * n / static_cast<double>(keys));
  };
  std::printf(
      "  note: a perfect split of %llu keys over 1000 backends already shows ~%.3f (sampling "
      "noise); the table column is exact\n",
      static_cast<unsigned long long>(o.balance_keys), noise(1000, o.balance_keys));
  if (o.many_keys != 0) {
    const auto entries = make_entries(1000);
    const Ringway rw(entries);
    const Mask all(1000);
    std::printf("  ringway N=1000 over %llu keys: %.4f (noise alone ~%.3f)\n",
                static_cast<unsigned long long>(o.many_keys),
                max_over_mean(key_counts(rw, 1000, o.many_keys, all.view())),
                noise(1000, o.many_keys));
  }
}

// 2. One backend down (health): nobody else's keys may move.
struct DownStats {
  uint64_t others_moved = 0;
  double survivors = 0;  // max / mean load of the survivors afterwards
};

template <class Algo>
DownStats down_row(const Algo& algo, size_t n, uint64_t keys) {
  const auto down = static_cast<uint32_t>(n / 2);
  Mask all(n);
  Mask one_down(n);
  one_down.usable[down] = 0;
  std::vector<double> after(n, 0.0);
  KeyStream stream(kKeySeed);
  DownStats stats;
  for (uint64_t k = 0; k < keys; ++k) {
    const uint64_t h = Algo::hash_key(stream.next());
    const uint32_t b0 = *algo.pick(h, all.view());
    const uint32_t b1 = *algo.pick(h, one_down.view());
    stats.others_moved += (b0 != down && b1 != b0) ? 1 : 0;
    after[b1] += 1;
  }
  after.erase(after.begin() + down);
  stats.survivors = max_over_mean(after);
  return stats;
}

void one_down(const Options& o) {
  std::printf(
      "\n[2] one backend down: keys of other backends moved (target 0), survivors' max/mean "
      "load (target <= 1.05 at N=10)\n");
  std::printf("%6s | %12s %10s | %12s %10s | %s\n", "N", "ringway", "ringway", "ketama", "ketama",
              "keys");
  std::printf("%6s | %12s %10s | %12s %10s |\n", "", "others moved", "survivors", "others moved",
              "survivors");
  for (const size_t n : kBackendCounts) {
    const auto entries = make_entries(n);
    const DownStats rw = down_row(Ringway(entries), n, o.disruption_keys);
    const DownStats kr = down_row(KetamaRing(entries), n, o.disruption_keys);
    std::printf("%6zu | %12llu %10.4f | %12llu %10.4f | %llu\n", n,
                static_cast<unsigned long long>(rw.others_moved), rw.survivors,
                static_cast<unsigned long long>(kr.others_moved), kr.survivors,
                static_cast<unsigned long long>(o.disruption_keys));
  }
}

// 3. Configuration change: exact fraction of the hash space that moved, over the ideal.
struct ChangeStats {
  double removal_mean = 0;
  double removal_max = 0;
  double addition_mean = 0;
  double addition_max = 0;
};

template <class Algo>
ChangeStats config_change(size_t n, uint32_t trials) {
  const auto entries = make_entries(n);
  const auto ids = identity_ids(n);
  const Algo before(entries);
  const auto before_segments = segments_of(before.table_or_ring(), ids);
  ChangeStats stats;
  for (uint32_t t = 0; t < trials; ++t) {
    const auto removed = static_cast<uint32_t>((size_t{t} * n) / trials + n / (2 * trials));
    auto fewer = entries;
    auto fewer_ids = ids;
    fewer.erase(fewer.begin() + removed);
    fewer_ids.erase(fewer_ids.begin() + removed);
    const double r =
        moved_fraction(before_segments, segments_of(Algo(fewer).table_or_ring(), fewer_ids)) *
        static_cast<double>(n);
    auto more = entries;
    auto more_ids = ids;
    more.push_back(BackendEntry{"backend-new-" + std::to_string(t), 1, false});
    more_ids.push_back(static_cast<uint32_t>(n + t));
    const double a =
        moved_fraction(before_segments, segments_of(Algo(more).table_or_ring(), more_ids)) *
        static_cast<double>(n + 1);
    stats.removal_mean += r / trials;
    stats.addition_mean += a / trials;
    stats.removal_max = std::max(stats.removal_max, r);
    stats.addition_max = std::max(stats.addition_max, a);
  }
  return stats;
}

struct RingwayConfig : Ringway {
  using Ringway::Ringway;
  [[nodiscard]] const SelectionTable& table_or_ring() const { return table; }
};
struct KetamaConfig : KetamaRing {
  using KetamaRing::KetamaRing;
  [[nodiscard]] const KetamaRing& table_or_ring() const { return *this; }
};

void config_changes(const Options& o) {
  std::printf(
      "\n[3] configuration change: keys moved / ideal (1/N on removal, 1/(N+1) on addition; "
      "target <= 1.10), mean and max over %u trials, exact over the hash space\n",
      o.config_trials);
  std::printf("%6s | %15s %15s | %15s %15s\n", "N", "ringway remove", "ringway add",
              "ketama remove", "ketama add");
  for (const size_t n : kBackendCounts) {
    const ChangeStats rw = config_change<RingwayConfig>(n, o.config_trials);
    const ChangeStats kr = config_change<KetamaConfig>(n, o.config_trials);
    std::printf("%6zu | %6.3f / %6.3f %6.3f / %6.3f | %6.3f / %6.3f %6.3f / %6.3f\n", n,
                rw.removal_mean, rw.removal_max, rw.addition_mean, rw.addition_max, kr.removal_mean,
                kr.removal_max, kr.addition_mean, kr.addition_max);
  }
}

// 4. Weights 1:2:3 (cycled over the backends for N > 3). The target concerns the share of each
// weight (per backend at N = 3, per weight class when cycled): a single light backend among 1000
// owns ~500 slots, whose binomial noise no consistent hash avoids.
struct WeightErrors {
  double class_table = 0;    // exact, max over the 3 weight classes
  double class_keys = 0;     // random keys
  double backend_table = 0;  // exact, max over backends
};

template <class Algo, class Layout>
WeightErrors weight_errors(const Algo& algo, const Layout& layout, size_t n, uint64_t keys) {
  const auto ids = identity_ids(n);
  const auto exact = shares(segments_of(layout, ids), n);
  const Mask all(n);
  const auto counts = key_counts(algo, n, keys, all.view());
  double total_weight = 0;
  for (size_t i = 0; i < n; ++i) {
    total_weight += 1 + static_cast<double>(i % 3);
  }
  WeightErrors e;
  double class_exact[3] = {0, 0, 0};
  double class_keys[3] = {0, 0, 0};
  double class_expected[3] = {0, 0, 0};
  for (size_t i = 0; i < n; ++i) {
    const double expected = (1 + static_cast<double>(i % 3)) / total_weight;
    e.backend_table = std::max(e.backend_table, std::abs(exact[i] / expected - 1));
    class_exact[i % 3] += exact[i];
    class_keys[i % 3] += counts[i] / static_cast<double>(keys);
    class_expected[i % 3] += expected;
  }
  for (int c = 0; c < 3; ++c) {
    e.class_table = std::max(e.class_table, std::abs(class_exact[c] / class_expected[c] - 1));
    e.class_keys = std::max(e.class_keys, std::abs(class_keys[c] / class_expected[c] - 1));
  }
  return e;
}

void weights(const Options& o) {
  std::printf(
      "\n[4] weights 1:2:3 (cycled for N > 3): max relative error of each weight's share "
      "(target <= 2%%), exact and over random keys; and of single backends, exact\n");
  std::printf("%6s | %8s %8s %8s | %8s %8s %8s\n", "N", "ringway", "ringway", "ringway", "ketama",
              "ketama", "ketama");
  std::printf("%6s | %8s %8s %8s | %8s %8s %8s\n", "", "weight", "keys", "backend", "weight",
              "keys", "backend");
  for (const size_t n : kBackendCounts) {
    const auto entries = make_entries(n, true);
    const Ringway rw(entries);
    const KetamaRing kr(entries);
    const WeightErrors r = weight_errors(rw, rw.table, n, o.balance_keys);
    const WeightErrors k = weight_errors(kr, kr, n, o.balance_keys);
    std::printf("%6zu | %7.2f%% %7.2f%% %7.2f%% | %7.2f%% %7.2f%% %7.2f%%\n", n,
                100 * r.class_table, 100 * r.class_keys, 100 * r.backend_table, 100 * k.class_table,
                100 * k.class_keys, 100 * k.backend_table);
  }
}

// 5. Bounded loads: arrivals with fresh keys, random departures once the population reached
// per_backend_pop * N. After each arrival: max load - factor * mean in connections (once the mean
// is >= 1), and max load / mean once the population is steady (before that, a mean of 1.5 makes
// a max of 2 look like 1.33 whatever the algorithm).
struct BoundedStats {
  double max_ratio = 0;
  double max_excess = -1e9;  // max_load - factor * mean
};

template <class Algo>
BoundedStats bounded_run(const Algo& algo, size_t n, const Options& o, double factor) {
  std::vector<std::atomic<uint32_t>> active(n);
  std::vector<uint8_t> usable(n, 1);
  std::vector<uint32_t> connections;  // backend of each live connection
  const auto counters = ringway::lb::counter_pointers(active);
  const LiveView live{usable, counters, factor};
  const size_t population = o.per_backend_pop * n;
  KeyStream stream(kKeySeed + 5);
  std::mt19937_64 departures(kKeySeed + 7);
  BoundedStats stats;
  for (uint32_t a = 0; a < o.arrivals; ++a) {
    const uint32_t b = *algo.pick(Algo::hash_key(stream.next()), live);
    active[b].fetch_add(1, std::memory_order_relaxed);
    connections.push_back(b);
    if (connections.size() >= n) {
      uint32_t max_load = 0;
      for (const auto& c : active) {
        max_load = std::max(max_load, c.load(std::memory_order_relaxed));
      }
      const double mean = static_cast<double>(connections.size()) / static_cast<double>(n);
      if (connections.size() >= population) {
        stats.max_ratio = std::max(stats.max_ratio, max_load / mean);
      }
      stats.max_excess = std::max(stats.max_excess, max_load - (factor > 1 ? factor : 1) * mean);
    }
    if (connections.size() > population) {
      const size_t victim = departures() % connections.size();
      active[connections[victim]].fetch_sub(1, std::memory_order_relaxed);
      connections[victim] = connections.back();
      connections.pop_back();
    }
  }
  return stats;
}

void bounded_loads(const Options& o) {
  std::printf(
      "\n[5] bounded loads, factor %.2f: %u arrivals, random departures above %u "
      "connections per backend; max load / mean ever seen in steady state (target <= %.2f, "
      "+1 connection), and max over all arrivals of max load - %.2f x mean, in connections "
      "(target <= +1)\n",
      kBalanceFactor, o.arrivals, o.per_backend_pop, kBalanceFactor, kBalanceFactor);
  std::printf("%6s | %9s %9s | %9s %9s | %17s\n", "N", "ringway", "excess", "ketama", "excess",
              "ringway unbounded");
  for (const size_t n : kBackendCounts) {
    const auto entries = make_entries(n);
    const Ringway rw(entries);
    const KetamaRing kr(entries);
    const BoundedStats r = bounded_run(rw, n, o, kBalanceFactor);
    const BoundedStats k = bounded_run(kr, n, o, kBalanceFactor);
    const BoundedStats u = bounded_run(rw, n, o, 0.0);
    if (r.max_ratio == 0) {
      std::printf("%6zu | %9s %+9.2f | %9s %+9.2f | %17s  (too few arrivals for steady state)\n", n,
                  "n/a", r.max_excess, "n/a", k.max_excess, "n/a");
      continue;
    }
    std::printf("%6zu | %9.4f %+9.2f | %9.4f %+9.2f | %17.4f\n", n, r.max_ratio, r.max_excess,
                k.max_ratio, k.max_excess, u.max_ratio);
  }
}

// 6. Speed: median over batches of 1024 lookups, each hashing a 16-byte key; median build time.
template <class Algo>
double median_lookup_ns(const Algo& algo, const std::vector<char>& keys, const LiveView& live,
                        uint32_t rounds) {
  constexpr size_t kBatch = 1024;
  const size_t key_count = keys.size() / 16;
  std::vector<double> batch_ns;
  uint64_t sink = 0;
  for (uint32_t r = 0; r < rounds; ++r) {
    for (size_t start = 0; start + kBatch <= key_count; start += kBatch) {
      const auto t0 = Clock::now();
      for (size_t k = start; k < start + kBatch; ++k) {
        sink += *algo.pick(Algo::hash_key(std::string_view(&keys[k * 16], 16)), live);
      }
      const auto t1 = Clock::now();
      batch_ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / kBatch);
    }
  }
  const auto middle = static_cast<std::ptrdiff_t>(batch_ns.size() / 2);
  std::nth_element(batch_ns.begin(), batch_ns.begin() + middle, batch_ns.end());
  if (sink == 0x5eed) {
    std::printf(" ");  // keeps the lookups observable
  }
  return batch_ns[static_cast<size_t>(middle)];
}

// Build time as CPU time (std::clock: this process is single-threaded): the dev box is shared, and
// wall time there measures the neighbours' load too.
template <class Algo>
double median_build_ms(const std::vector<BackendEntry>& entries, uint32_t reps) {
  std::vector<double> ms;
  for (uint32_t r = 0; r < reps; ++r) {
    const std::clock_t t0 = std::clock();
    const Algo algo(entries);
    const std::clock_t t1 = std::clock();
    ms.push_back(1000.0 * static_cast<double>(t1 - t0) / CLOCKS_PER_SEC);
  }
  const auto middle = static_cast<std::ptrdiff_t>(ms.size() / 2);
  std::nth_element(ms.begin(), ms.begin() + middle, ms.end());
  return ms[static_cast<size_t>(middle)];
}

void speed(const Options& o) {
  std::printf(
      "\n[6] speed: median ns per lookup incl. hashing a 16-byte key (target <= 50 ns at N=1000; "
      "'rw bounded': bounded loads on, which sums the live counts, O(N)); median table build, ms "
      "of CPU time (target <= 10 ms at N=1000)\n");
  std::printf("%6s | %8s %10s %9s %9s | %8s %9s | %s\n", "N", "ringway", "rw bounded", "rw build",
              "slots", "ketama", "kt build", "ketama points");
  std::vector<char> keys(size_t{1} << 22U);  // 2^18 keys of 16 bytes
  std::mt19937_64 rng(kKeySeed + 11);
  for (size_t i = 0; i < keys.size(); i += 8) {
    const uint64_t w = rng();
    std::memcpy(&keys[i], &w, 8);
  }
  for (const size_t n : kBackendCounts) {
    const auto entries = make_entries(n);
    const Ringway rw(entries);
    const KetamaRing kr(entries);
    std::vector<std::atomic<uint32_t>> active(n);
    const Mask all(n);
    const auto counters = ringway::lb::counter_pointers(active);
    const LiveView bounded{all.usable, counters, kBalanceFactor};
    std::printf("%6zu | %8.1f %10.1f %9.3f %9zu | %8.1f %9.3f | %zu\n", n,
                median_lookup_ns(rw, keys, all.view(), o.lookup_rounds),
                median_lookup_ns(rw, keys, bounded, o.lookup_rounds),
                median_build_ms<Ringway>(entries, o.build_reps), rw.table.primary_slots().size(),
                median_lookup_ns(kr, keys, all.view(), o.lookup_rounds),
                median_build_ms<KetamaRing>(entries, o.build_reps), kr.points().size());
  }
}

}  // namespace
}  // namespace lbbench

int main(int argc, char** argv) {
  using namespace lbbench;
  const bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  if (argc > 2 || (argc == 2 && !quick)) {
    std::fprintf(stderr, "usage: lbbench [--quick]\n");
    return 2;
  }
  const Options o = quick ? quick_options() : Options{};
  const auto t0 = Clock::now();
  std::printf(
      "lbbench%s: ringway (Maglev-style slot table, capacity-bounded rank fill, XXH3, probe "
      "walk) vs ketama reference (NGINX hash consistent: 160 points per weight, CRC32); "
      "names backend-0000.., 16-byte random keys, seed %llu\n",
      quick ? " --quick" : "", static_cast<unsigned long long>(kKeySeed));
  balance(o);
  one_down(o);
  config_changes(o);
  weights(o);
  bounded_loads(o);
  speed(o);
  std::printf("\ntotal %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  return 0;
}
