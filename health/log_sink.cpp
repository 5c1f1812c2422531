#include "health/log_sink.h"

#include <atomic>
#include <cstdio>

namespace ringway::health {
namespace {

void to_stderr(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  std::string line(level == LogLevel::Warn ? "warn " : "info ");
  line.append(message);
  for (const LogField& f : fields) {
    line.append(" ").append(f.first).append("=").append(f.second);
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::atomic<LogSink> g_sink{&to_stderr};

}  // namespace

void set_log_sink(LogSink sink) { g_sink.store(sink != nullptr ? sink : &to_stderr); }

void emit(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  g_sink.load()(level, message, fields);
}

}  // namespace ringway::health
