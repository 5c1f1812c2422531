#include "conf/values.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <system_error>

namespace ringway::conf {
namespace {

// Shortest form, always with a decimal point so that 1.0 reads as a real number ("1.0", "1.25").
std::string number_text(double value) {
  constexpr std::size_t kEnough = 32;
  std::array<char, kEnough> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  std::string text(buffer.data(), result.ptr);
  if (text.find_first_of(".en") == std::string::npos) {
    text += ".0";
  }
  return text;
}

}  // namespace

std::optional<std::string> read_string(const Field& field, Diagnostics& diag) {
  if (!field.node.IsScalar() || field.node.Scalar().empty()) {
    type_error(field, "a non-empty string", diag);
    return std::nullopt;
  }
  return field.node.Scalar();
}

std::optional<std::string> read_name(const Field& field, Diagnostics& diag) {
  const auto is_name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  if (!field.node.IsScalar() || field.node.Scalar().empty() ||
      !std::ranges::all_of(field.node.Scalar(), is_name_char)) {
    type_error(field, "a name made of letters, digits, '.', '_' and '-'", diag);
    return std::nullopt;
  }
  return field.node.Scalar();
}

std::optional<bool> read_bool(const Field& field, Diagnostics& diag) {
  if (field.node.IsScalar()) {
    const std::string& text = field.node.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") {
      return true;
    }
    if (text == "false" || text == "False" || text == "FALSE") {
      return false;
    }
  }
  type_error(field, "true or false", diag);
  return std::nullopt;
}

std::optional<uint64_t> read_integer(const Field& field, uint64_t min, uint64_t max,
                                     Diagnostics& diag) {
  if (field.node.IsScalar()) {
    const std::string& text = field.node.Scalar();
    uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (!text.empty() && ec == std::errc{} && ptr == end && value >= min && value <= max) {
      return value;
    }
  }
  type_error(field, "an integer from " + std::to_string(min) + " to " + std::to_string(max), diag);
  return std::nullopt;
}

std::optional<double> read_number_above(const Field& field, double bound, Diagnostics& diag) {
  if (field.node.IsScalar()) {
    const std::string& text = field.node.Scalar();
    double value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (!text.empty() && ec == std::errc{} && ptr == end && std::isfinite(value) && value > bound) {
      return value;
    }
  }
  type_error(field, "a number greater than " + number_text(bound), diag);
  return std::nullopt;
}

std::optional<Duration> read_duration(const Field& field, Zero zero, Diagnostics& diag) {
  if (field.node.IsScalar()) {
    const auto value = parse_duration(field.node.Scalar());
    if (value && (zero == Zero::Allowed || value->count() > 0)) {
      return value;
    }
  }
  type_error(field,
             zero == Zero::Allowed ? R"(a duration such as "250ms", "5s", "2m", "1h" or "0")"
                                   : R"(a duration above zero such as "250ms", "5s", "2m" or "1h")",
             diag);
  return std::nullopt;
}

std::optional<uint64_t> read_size(const Field& field, Diagnostics& diag) {
  if (field.node.IsScalar()) {
    const auto value = parse_size(field.node.Scalar());
    if (value && *value > 0) {
      return value;
    }
  }
  type_error(field, R"(a size above zero such as "512", "64KiB", "16MiB" or "1GiB")", diag);
  return std::nullopt;
}

std::optional<Endpoint> read_endpoint(const Field& field, Diagnostics& diag) {
  if (field.node.IsScalar()) {
    if (auto value = parse_endpoint(field.node.Scalar())) {
      return value;
    }
  }
  type_error(field, "host:port or [v6]:port with a port from 1 to 65535", diag);
  return std::nullopt;
}

}  // namespace ringway::conf
