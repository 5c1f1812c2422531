// A bounded, deterministic stand-in for libFuzzer, so that every ctest run (and every sanitizer
// build) drives the fuzz targets: it runs the seeds, then N mutated inputs from a fixed seed.
//   fuzz_<name>_smoke [iterations]     mutation loop (default 200000)
//   fuzz_<name>_smoke FILE...          replay inputs (e.g. a crash file libFuzzer wrote)
//   fuzz_<name>_smoke --seeds DIR      write the seed corpus and a dictionary (DIR/dict) for libFuzzer
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.h"

namespace {

constexpr uint64_t kDefaultIterations = 200000;
constexpr size_t kMaxInput = 4096;
constexpr size_t kPoolSize = 512;
constexpr double kTimeBudgetSeconds = 60.0;  // a safety net for slow (sanitizer, valgrind) builds

// xorshift64*: tiny, and the same sequence on every platform.
struct Rng {
  uint64_t state;
  uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

// The input being run, written out if it aborts, so that a failure can be replayed and debugged.
const std::string* g_current = nullptr;
constexpr char kCrashFile[] = "fuzz-smoke-crash.bin";

void on_abort(int) {
  if (g_current != nullptr) {
    const int fd = ::open(kCrashFile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      [[maybe_unused]] const ssize_t n = ::write(fd, g_current->data(), g_current->size());
      ::close(fd);
      static const char kNote[] = "failing input written to fuzz-smoke-crash.bin\n";
      [[maybe_unused]] const ssize_t m = ::write(2, kNote, sizeof kNote - 1);
    }
  }
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

void run(const std::string& input) {
  g_current = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

void mutate_once(std::string& s, Rng& rng, const std::vector<std::string>& pool,
                 const std::vector<std::string>& dict) {
  static const char kInteresting[] = {0x00, '\x7d', '\x7e', '\x7f', '\x80', '\x81', '\x88', '\xff',
                                      '\r', '\n', ' ', '\t', ':', ',', '0', '9'};
  const size_t pos = rng.below(s.size() + 1);
  switch (rng.below(8)) {
    case 0:
      if (!s.empty()) s[pos % s.size()] = static_cast<char>(s[pos % s.size()] ^ (1 << rng.below(8)));
      break;
    case 1:
      if (!s.empty()) s[pos % s.size()] = static_cast<char>(rng.next());
      break;
    case 2:
      if (!s.empty()) s[pos % s.size()] = kInteresting[rng.below(sizeof kInteresting)];
      break;
    case 3:
      s.insert(pos, 1, static_cast<char>(rng.next()));
      break;
    case 4:
      if (!s.empty()) s.erase(pos % s.size(), 1 + rng.below(16));
      break;
    case 5:
      if (!s.empty()) {
        const size_t from = rng.below(s.size());
        const std::string chunk = s.substr(from, 1 + rng.below(32));
        s.insert(pos, chunk);
      }
      break;
    case 6: {
      const std::string& other = pool[rng.below(pool.size())];
      if (!other.empty()) {
        const size_t from = rng.below(other.size());
        s = s.substr(0, pos) + other.substr(from);
      }
      break;
    }
    default:
      if (!dict.empty()) s.insert(pos, dict[rng.below(dict.size())]);
      break;
  }
  if (s.size() > kMaxInput) s.resize(kMaxInput);
}

int replay(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream file(argv[i], std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    run(std::string(std::istreambuf_iterator<char>(file), {}));
    std::printf("ran %s\n", argv[i]);
  }
  return 0;
}

// libFuzzer dictionary syntax: one "quoted" entry per line, non-printables as \xNN.
std::string dictionary_line(const std::string& entry) {
  std::string line = "\"";
  for (const char c : entry) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7F || c == '"' || c == '\\') {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", byte);
      line += hex;
    } else {
      line += c;
    }
  }
  return line + "\"\n";
}

int write_seeds(const std::string& dir) {
  const std::vector<std::string> seeds = ringway::fuzz::seeds();
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream(dir + "/seed-" + std::to_string(i), std::ios::binary) << seeds[i];
  }
  std::ofstream dict(dir + "/dict");
  for (const std::string& entry : ringway::fuzz::dictionary()) dict << dictionary_line(entry);
  std::printf("wrote %zu seeds and %s/dict\n", seeds.size(), dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGABRT, on_abort);
  if (argc == 3 && std::string(argv[1]) == "--seeds") return write_seeds(argv[2]);
  if (argc > 1 && (argv[1][0] < '0' || argv[1][0] > '9')) return replay(argc, argv);
  const uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : kDefaultIterations;

  std::vector<std::string> pool = ringway::fuzz::seeds();
  const std::vector<std::string> dict = ringway::fuzz::dictionary();
  for (const std::string& seed : pool) run(seed);
  const size_t seed_count = pool.size();

  Rng rng{0x9E3779B97F4A7C15ULL};
  const auto start = std::chrono::steady_clock::now();
  uint64_t done = 0;
  for (; done < iterations; ++done) {
    std::string input = pool[rng.below(pool.size())];
    const size_t rounds = 1 + rng.below(rng.below(2) == 0 ? 2 : 8);
    for (size_t r = 0; r < rounds; ++r) mutate_once(input, rng, pool, dict);
    run(input);
    // Keep some mutants so that mutations stack up, preferring those that got deep; seeds stay.
    if (rng.below(ringway::fuzz::last_input_was_deep() ? 2 : 64) == 0) {
      if (pool.size() < kPoolSize) {
        pool.push_back(std::move(input));
      } else {
        pool[seed_count + rng.below(kPoolSize - seed_count)] = std::move(input);
      }
    }
    if ((done & 1023) == 0) {
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      if (elapsed.count() > kTimeBudgetSeconds) break;
    }
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  std::printf("%llu inputs (%zu seeds) in %.1f s, no invariant failed\n",
              static_cast<unsigned long long>(done), seed_count, elapsed.count());
  return 0;
}
