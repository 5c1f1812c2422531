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

// One line: the event name plus key/value fields. Thread-safe: a line is written whole by one
// write(2), alone or in its thread's batch.
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

// Batching, for a worker's thread: its Info and Debug lines (the access log: one line per
// connection) are kept in a per-thread buffer and written together by flush_batch(), which the
// worker's loop calls before it waits for I/O (proxy/worker_pool.cpp), instead of one write(2) per
// line: at 12,000 connections/s that write was one syscall in 27 per connection. A Warn or Error
// line is written at once, after the lines batched before it. A batch never exceeds PIPE_BUF
// (4096 bytes), so that on a pipe shared with other threads it still arrives whole.
void begin_batching();  // this thread's lines from now on
void flush_batch();     // this thread's batched lines, now (nothing to do when there are none)
void end_batching();    // flushes, then this thread writes line by line again

}  // namespace ringway::log
