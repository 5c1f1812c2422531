// Internal to conf/: typed values. Each reader reports a wrong value at its position, naming the
// key, what was expected and what was found, and then returns nullopt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "conf/config.h"
#include "conf/diagnostics.h"
#include "conf/yaml_reader.h"

namespace ringway::conf {

// Any non-empty scalar.
std::optional<std::string> read_string(const Field& field, Diagnostics& diag);
// A listener, pool or backend name: letters, digits, '.', '_' and '-' (names appear in admin URLs
// and metric labels, where anything else would need escaping).
std::optional<std::string> read_name(const Field& field, Diagnostics& diag);
// true or false (not YAML 1.1's yes/no/on/off, which surprise people).
std::optional<bool> read_bool(const Field& field, Diagnostics& diag);
// A decimal integer in [min, max].
std::optional<uint64_t> read_integer(const Field& field, uint64_t min, uint64_t max,
                                     Diagnostics& diag);
// A finite number strictly greater than `bound`.
std::optional<double> read_number_above(const Field& field, double bound, Diagnostics& diag);

enum class Zero : uint8_t { Allowed, Refused };
std::optional<Duration> read_duration(const Field& field, Zero zero, Diagnostics& diag);
// A size of at least one byte.
std::optional<uint64_t> read_size(const Field& field, Diagnostics& diag);
std::optional<Endpoint> read_endpoint(const Field& field, Diagnostics& diag);

// Stores a successfully read value; leaves the default in place otherwise.
template <typename T, typename U>
void assign(std::optional<T> value, U& out) {
  if (value) {
    out = static_cast<U>(*value);
  }
}

}  // namespace ringway::conf
