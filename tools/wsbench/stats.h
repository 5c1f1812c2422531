// Measurement helpers for wsbench: a log-bucket latency histogram (bounded memory whatever the run
// length, about 1.6 % resolution) and samples of another process's CPU time and RSS from /proc.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace wsbench {

class Histogram {
 public:
  void record(uint64_t ns);
  void clear();
  void merge(const Histogram& other);
  [[nodiscard]] uint64_t count() const { return count_; }
  [[nodiscard]] uint64_t max() const { return max_; }
  [[nodiscard]] double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_); }
  // The value below which a fraction Q (0..1) of the samples lie, in ns (the bucket's midpoint).
  [[nodiscard]] uint64_t percentile(double q) const;

 private:
  // Values below 128 ns have their own bucket; above, 64 buckets per power of two.
  static constexpr std::size_t kSub = 64;
  static constexpr std::size_t kBuckets = 128 + (64 - 7) * kSub;
  static std::size_t index(uint64_t ns);
  static uint64_t midpoint(std::size_t index);

  std::vector<uint64_t> buckets_ = std::vector<uint64_t>(kBuckets, 0);
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

// One look at a process: CPU time (utime + stime of every thread, from /proc/PID/stat, in clock
// ticks converted to microseconds) and resident memory (VmRSS from /proc/PID/status, in KiB).
struct ProcSample {
  bool ok = false;
  uint64_t cpu_us = 0;
  uint64_t utime_us = 0;
  uint64_t stime_us = 0;
  uint64_t rss_kib = 0;
};

ProcSample sample_process(int pid);

// This process's own user + system CPU time, in microseconds (getrusage).
uint64_t self_cpu_us();

}  // namespace wsbench
