// Durations, sizes and endpoints as written in the file. Strict on purpose: a value that is not
// exactly one of the documented forms is refused rather than guessed at.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <system_error>
#include <utility>

#include "conf/config.h"

namespace ringway::conf {
namespace {

// A run of decimal digits (no sign, no spaces) that fits in 64 bits.
std::optional<uint64_t> parse_digits(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) {
    return std::nullopt;
  }
  return value;
}

// Splits "250ms" into "250" and "ms".
std::pair<std::string_view, std::string_view> split_number(std::string_view text) {
  const auto unit_at = text.find_first_not_of("0123456789");
  if (unit_at == std::string_view::npos) {
    return {text, {}};
  }
  return {text.substr(0, unit_at), text.substr(unit_at)};
}

std::optional<uint64_t> checked_multiply(uint64_t value, uint64_t factor, uint64_t max) {
  if (value > max / factor) {
    return std::nullopt;
  }
  return value * factor;
}

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

std::optional<uint64_t> scale(std::string_view text, std::initializer_list<Unit> units,
                              uint64_t max) {
  const auto [digits, suffix] = split_number(text);
  const auto value = parse_digits(digits);
  if (!value) {
    return std::nullopt;
  }
  for (const Unit& unit : units) {
    if (unit.suffix == suffix) {
      return checked_multiply(*value, unit.factor, max);
    }
  }
  return std::nullopt;
}

constexpr uint64_t kMaxPort = 65535;

std::optional<uint16_t> parse_port(std::string_view text) {
  // No port needs more than five digits; this also keeps huge numbers out of parse_digits.
  constexpr std::size_t kMaxPortDigits = 5;
  if (text.size() > kMaxPortDigits) {
    return std::nullopt;
  }
  const auto value = parse_digits(text);
  if (!value || *value == 0 || *value > kMaxPort) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(*value);
}

bool has_space_or_control(std::string_view text) {
  return std::ranges::any_of(
      text, [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == '\x7f'; });
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "0") {
    return Duration{0};
  }
  constexpr uint64_t kSecond = 1000;
  constexpr uint64_t kMinute = 60 * kSecond;
  constexpr uint64_t kHour = 60 * kMinute;
  const auto max = static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max());
  const auto ms = scale(text, {{"ms", 1}, {"s", kSecond}, {"m", kMinute}, {"h", kHour}}, max);
  if (!ms) {
    return std::nullopt;
  }
  return Duration{static_cast<Duration::rep>(*ms)};
}

std::optional<uint32_t> parse_microseconds(std::string_view text, uint32_t max) {
  if (text == "0") {
    return 0;
  }
  const auto us = scale(text, {{"us", 1}, {"ms", 1000}}, max);
  if (!us) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(*us);
}

std::optional<uint64_t> parse_size(std::string_view text) {
  constexpr uint64_t kKiB = 1024;
  constexpr uint64_t kKB = 1000;
  return scale(text,
               {{"", 1},
                {"KiB", kKiB},
                {"MiB", kKiB * kKiB},
                {"GiB", kKiB * kKiB * kKiB},
                {"KB", kKB},
                {"MB", kKB * kKB},
                {"GB", kKB * kKB * kKB}},
               std::numeric_limits<uint64_t>::max());
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  if (has_space_or_control(text)) {
    return std::nullopt;
  }
  std::string_view host;
  std::string_view rest;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    // Brackets are only for IPv6 literals, which always contain a colon.
    if (host.find(':') == std::string_view::npos || host.find('[') != std::string_view::npos) {
      return std::nullopt;
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    rest = text.substr(colon);
    // An unbracketed IPv6 address would make the port ambiguous ("::1:80").
    if (host.find_first_of(":[]") != std::string_view::npos) {
      return std::nullopt;
    }
  }
  if (host.empty() || !rest.starts_with(':')) {
    return std::nullopt;
  }
  const auto port = parse_port(rest.substr(1));
  if (!port) {
    return std::nullopt;
  }
  return Endpoint{.text = std::string(text), .host = std::string(host), .port = *port};
}

}  // namespace ringway::conf
