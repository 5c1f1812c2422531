// health/ logs its events (transitions, ejections) through a sink that proxy/ installs at start, so
// that it writes the same lines as the rest of the process without depending on proxy/.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ringway::health {

enum class LogLevel : uint8_t { Info, Warn };
using LogField = std::pair<std::string_view, std::string>;  // the same pair as proxy/log.h's Field
using LogSink = void (*)(LogLevel, std::string_view message, std::initializer_list<LogField> fields);

// Until a sink is installed, events go to stderr as "message key=value ...".
void set_log_sink(LogSink sink);
void emit(LogLevel level, std::string_view message, std::initializer_list<LogField> fields);

}  // namespace ringway::health
