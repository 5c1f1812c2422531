#include "proxy/log.h"

#include "proxy/json.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <ctime>

namespace ringway::log {
namespace {

std::atomic<Format> g_format{Format::Text};
std::atomic<Level> g_min_level{Level::Info};

// At most PIPE_BUF bytes per write keeps a batch atomic on a pipe shared with other threads.
constexpr size_t kMaxBatchBytes = PIPE_BUF;

void write_out(std::string_view bytes) {
  if (bytes.empty()) return;
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, bytes.data(), bytes.size());
}

// This thread's batch; a thread that ends with lines still batched writes them (its destructor).
struct Batch {
  bool on = false;
  std::string lines;
  Batch() = default;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  ~Batch() { flush(); }
  void flush() {
    write_out(lines);
    lines.clear();
  }
};
thread_local Batch t_batch;

const char* level_name(Level level) {
  switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

// "2026-11-28T01:00:00.123Z". The part up to the seconds is formatted once per second per thread.
void append_timestamp(std::string& out) {
  using namespace std::chrono;
  thread_local std::time_t cached_secs = -1;
  thread_local char cached[24];
  thread_local size_t cached_len = 0;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t secs = system_clock::to_time_t(now);
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    cached_len = std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_secs = secs;
  }
  out.append(cached, cached_len);
  const char frac[] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                       static_cast<char>('0' + ms % 10), 'Z'};
  out.append(frac, sizeof frac);
}

// Text values with spaces or quotes are quoted so that a line stays machine-splittable.
void append_text_value(std::string& out, std::string_view value) {
  const bool needs_quotes =
      value.empty() || value.find_first_of(" \"=\t\n") != std::string_view::npos;
  if (needs_quotes) {
    json::append_escaped(out, value);
  } else {
    out += value;
  }
}

}  // namespace

void set_format(Format format) { g_format = format; }
void set_min_level(Level level) { g_min_level = level; }

namespace {

void format_line(std::string& line, Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (g_format.load(std::memory_order_relaxed) == Format::Json) {
    line += "{\"time\":\"";
    append_timestamp(line);
    line += "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"msg\":";
    json::append_escaped(line, message);
    for (const auto& [key, value] : fields) {
      line += ',';
      json::append_escaped(line, key);
      line += ':';
      json::append_escaped(line, value);
    }
    line += "}\n";
  } else {
    append_timestamp(line);
    line += ' ';
    line += level_name(level);
    line += ' ';
    line += message;
    for (const auto& [key, value] : fields) {
      line += ' ';
      line += key;
      line += '=';
      append_text_value(line, value);
    }
    line += '\n';
  }
}

}  // namespace

void event(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (level < g_min_level.load(std::memory_order_relaxed)) return;
  // One write per line, or per batch of whole lines, keeps lines whole with several threads logging.
  Batch& batch = t_batch;
  if (!batch.on) {
    std::string line;
    line.reserve(128);
    format_line(line, level, message, fields);
    write_out(line);
    return;
  }
  const size_t start = batch.lines.size();
  format_line(batch.lines, level, message, fields);  // formatted in place: no allocation per line
  if (batch.lines.size() > kMaxBatchBytes && start > 0) {
    write_out(std::string_view(batch.lines).substr(0, start));  // what fitted goes first, alone
    batch.lines.erase(0, start);
  }
  if (batch.lines.size() >= kMaxBatchBytes || level >= Level::Warn) batch.flush();  // trouble: at once
}

void begin_batching() {
  t_batch.on = true;
  t_batch.lines.reserve(kMaxBatchBytes);
}

void flush_batch() {
  if (!t_batch.lines.empty()) t_batch.flush();
}

void end_batching() {
  flush_batch();
  t_batch.on = false;
}

}  // namespace ringway::log
