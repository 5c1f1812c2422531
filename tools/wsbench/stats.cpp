#include "tools/wsbench/stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

namespace wsbench {

std::size_t Histogram::index(uint64_t ns) {
  if (ns < 128) {
    return static_cast<std::size_t>(ns);
  }
  const unsigned exponent = 63U - static_cast<unsigned>(std::countl_zero(ns));  // >= 7
  const uint64_t sub = (ns >> (exponent - 6U)) & (kSub - 1);
  return 128 + (exponent - 7U) * kSub + static_cast<std::size_t>(sub);
}

uint64_t Histogram::midpoint(std::size_t i) {
  if (i < 128) {
    return i;
  }
  const std::size_t exponent = (i - 128) / kSub + 7;
  const uint64_t sub = (i - 128) % kSub;
  const uint64_t low = (uint64_t{1} << exponent) | (sub << (exponent - 6));
  return low + ((uint64_t{1} << (exponent - 6)) >> 1U);
}

void Histogram::record(uint64_t ns) {
  ++buckets_[index(ns)];
  ++count_;
  sum_ += ns;
  if (ns > max_) {
    max_ = ns;
  }
}

void Histogram::clear() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = 0;
  sum_ = 0;
  max_ = 0;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    buckets_[i] += other.buckets_[i];
  }
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::percentile(double q) const {
  if (count_ == 0) {
    return 0;
  }
  auto rank = static_cast<uint64_t>(q * static_cast<double>(count_));
  if (rank >= count_) {
    rank = count_ - 1;
  }
  uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen > rank) {
      const uint64_t mid = midpoint(i);
      return mid > max_ ? max_ : mid;
    }
  }
  return max_;
}

ProcSample sample_process(int pid) {
  ProcSample out;
  const long ticks = sysconf(_SC_CLK_TCK);
  {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) {
      return out;
    }
    // The command name (field 2) is in parentheses and may hold spaces: fields count from the last ')'.
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) {
      return out;
    }
    std::istringstream fields(line.substr(paren + 2));
    std::string field;
    uint64_t utime = 0;
    uint64_t stime = 0;
    // After ')' comes field 3 (state); utime and stime are fields 14 and 15.
    for (int n = 3; n <= 15 && fields >> field; ++n) {
      if (n == 14) {
        utime = std::stoull(field);
      } else if (n == 15) {
        stime = std::stoull(field);
      }
    }
    out.utime_us = utime * 1000000ULL / static_cast<uint64_t>(ticks);
    out.stime_us = stime * 1000000ULL / static_cast<uint64_t>(ticks);
    out.cpu_us = out.utime_us + out.stime_us;
  }
  {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.starts_with("VmRSS:")) {
        out.rss_kib = std::stoull(line.substr(6));
        break;
      }
    }
  }
  out.ok = true;
  return out;
}

uint64_t self_cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto us = [](const timeval& tv) {
    return static_cast<uint64_t>(tv.tv_sec) * 1000000ULL + static_cast<uint64_t>(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

}  // namespace wsbench
