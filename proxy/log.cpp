#include "proxy/log.h"

#include "proxy/json.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace ringway::log {
namespace {

std::atomic<Format> g_format{Format::Text};
std::atomic<Level> g_min_level{Level::Info};

const char* level_name(Level level) {
  switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

void append_timestamp(std::string& out) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t secs = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(buf, n);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
  out += frac;
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

void event(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (level < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(128);
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
  // One write per line keeps lines whole even with several threads logging.
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace ringway::log
