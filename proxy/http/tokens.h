// Small helpers for HTTP header values: case-insensitive comparison (RFC 9110 field names and the
// tokens WebSocket uses are ASCII case-insensitive) and walking comma-separated lists.
#pragma once

#include <cstddef>
#include <string_view>

namespace ringway::http {

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Optional whitespace (SP / HTAB) stripped from both ends.
inline std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// RFC 9110 tchar: the characters of a token (method, field name, Upgrade / Connection values).
inline bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Calls f(element) for each element of a comma-separated list, whitespace trimmed, empty elements
// skipped (RFC 9110 5.6.1). Commas inside a quoted string do not split. Stops when f returns true,
// and returns whether it did.
template <typename F>
bool any_list_element(std::string_view list, F f) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size()) {
      const char c = list[i];
      if (quoted && c == '\\') {
        ++i;  // a quoted-pair: the next character is literal
        continue;
      }
      if (c == '"') quoted = !quoted;
      if (c != ',' || quoted) continue;
    }
    const std::string_view element = trim_ows(list.substr(start, i - start));
    if (!element.empty() && f(element)) return true;
    start = i + 1;
  }
  return false;
}

// True when the comma-separated list holds `token` (case-insensitive), e.g. Connection: keep-alive, Upgrade.
inline bool list_has_token(std::string_view list, std::string_view token) {
  return any_list_element(list, [token](std::string_view element) { return iequals(element, token); });
}

}  // namespace ringway::http
