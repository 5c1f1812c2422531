// Sticky-key extraction. Everything here returns views into the request: the worker calls it once
// per upgrade request on the data path, so it must not allocate and must not throw.
#include "lb/hash_key.h"

#include <algorithm>
#include <cstddef>

namespace ringway::lb {
namespace {

// RFC 9110 tchar: what a header field name (and an RFC 6265 cookie name) is made of.
constexpr bool is_tchar(char c) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         kSymbols.find(c) != std::string_view::npos;
}

constexpr bool is_token(std::string_view text) {
  return !text.empty() && std::ranges::all_of(text, is_tchar);
}

// A query parameter name is matched byte for byte against the raw query, so it may hold anything
// except what would end it there ('&', '=', '#') or what cannot appear in a request target.
constexpr bool is_query_name(std::string_view text) {
  return !text.empty() && std::ranges::all_of(text, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f && c != '&' && c != '=' && c != '#';
  });
}

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ows(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits `rest` at the first `sep`: returns the part before it and leaves the part after in `rest`.
constexpr std::string_view next_field(std::string_view& rest, char sep) {
  const size_t at = rest.find(sep);
  const std::string_view field = rest.substr(0, at);
  rest = (at == std::string_view::npos) ? std::string_view{} : rest.substr(at + 1);
  return field;
}

std::string_view header_value(std::string_view name, const RequestKeySource& source) {
  for (const HeaderView& h : source.headers) {
    if (iequals(h.name, name)) {
      return trim_ows(h.value);  // the first occurrence decides, even when it is empty
    }
  }
  return {};
}

}  // namespace

// RFC 6265 cookie-pairs, tolerant of stray whitespace, across every Cookie header in order (HTTP/2
// clients split cookies into several headers). The first pair with this name decides.
std::string_view find_cookie(std::string_view name, std::span<const HeaderView> headers) {
  for (const HeaderView& h : headers) {
    if (!iequals(h.name, "cookie")) {
      continue;
    }
    std::string_view rest = h.value;
    while (!rest.empty()) {
      std::string_view pair = next_field(rest, ';');
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || trim_ows(pair.substr(0, eq)) != name) {
        continue;
      }
      std::string_view value = trim_ows(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);  // DQUOTE cookie-octets DQUOTE
      }
      return value;
    }
  }
  return {};
}

namespace {

// The raw target without its fragment (clients should not send one, but it is never part of the
// query or the path).
constexpr std::string_view without_fragment(std::string_view target) {
  return target.substr(0, target.find('#'));
}

// No percent-decoding: "a%20b" and "a b" are different keys, which is fine for stickiness as long
// as every client spells its key the same way.
std::string_view query_value(std::string_view name, std::string_view target) {
  target = without_fragment(target);
  const size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return {};
  }
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    std::string_view param = next_field(rest, '&');
    const size_t eq = param.find('=');
    if (param.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
    }
  }
  return {};
}

}  // namespace

std::optional<HashKeySpec> parse_hash_key_spec(std::string_view text) {
  if (text == "source_ip") {
    return HashKeySpec{HashKeyKind::SourceIp, {}};
  }
  if (text == "path") {
    return HashKeySpec{HashKeyKind::Path, {}};
  }
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view kind = text.substr(0, colon);
  const std::string_view name = text.substr(colon + 1);
  if (kind == "header" && is_token(name)) {
    return HashKeySpec{HashKeyKind::Header, std::string(name)};
  }
  if (kind == "cookie" && is_token(name)) {
    return HashKeySpec{HashKeyKind::Cookie, std::string(name)};
  }
  if (kind == "query" && is_query_name(name)) {
    return HashKeySpec{HashKeyKind::Query, std::string(name)};
  }
  return std::nullopt;
}

std::string_view extract_hash_key(const HashKeySpec& spec, const RequestKeySource& source) {
  std::string_view key;
  switch (spec.kind) {
    case HashKeyKind::SourceIp:
      return source.source_ip;
    case HashKeyKind::Header:
      key = header_value(spec.name, source);
      break;
    case HashKeyKind::Cookie:
      key = find_cookie(spec.name, source.headers);
      break;
    case HashKeyKind::Query:
      key = query_value(spec.name, source.target);
      break;
    case HashKeyKind::Path: {
      const std::string_view target = without_fragment(source.target);
      key = target.substr(0, target.find('?'));
      break;
    }
  }
  return key.empty() ? source.source_ip : key;
}

}  // namespace ringway::lb
