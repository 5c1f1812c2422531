// Logging: one event per line on stderr, as text ("2026-11-28T01:00:00.123Z info msg key=value")
// or as one JSON object per line (--log-format json).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ringway::log {

enum class Level : uint8_t { Debug, Info, Warn, Error };
enum class Format : uint8_t { Text, Json };

void set_format(Format format);
void set_min_level(Level level);

using Field = std::pair<std::string_view, std::string>;

// One line: the event name plus key/value fields. Thread-safe (one write(2) per line).
void event(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void info(std::string_view message, std::initializer_list<Field> fields = {}) {
  event(Level::Info, message, fields);
}
inline void warn(std::string_view message, std::initializer_list<Field> fields = {}) {
  event(Level::Warn, message, fields);
}
inline void error(std::string_view message, std::initializer_list<Field> fields = {}) {
  event(Level::Error, message, fields);
}

}  // namespace ringway::log
