// pools[].affinity_cookie: {name, path, max_age, secret | secret_file}. An empty map takes every
// default. The secret file is read here, so that --check finds a missing or short one at its line.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "conf/sections.h"
#include "conf/values.h"

namespace ringway::conf {
namespace {

constexpr std::array<std::string_view, 6> kAffinityKeys = {"name",   "path",        "max_age",
                                                           "secret", "secret_file", "same_site"};
// An HMAC key shorter than this is guessable; a longer one adds nothing past SHA-256's block.
constexpr std::size_t kMinSecret = 16;
constexpr std::size_t kMaxSecretFile = 4096;

// RFC 6265 cookie-name: an RFC 9110 token.
bool is_cookie_name(std::string_view text) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::ranges::all_of(text, [&](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kSymbols.find(c) != std::string_view::npos;
  });
}

// RFC 6265 path-value is any CHAR but controls and ';'; spaces are refused too (they would need a
// quoted attribute nobody parses the same way).
bool is_cookie_path(std::string_view text) {
  return text.starts_with('/') && std::ranges::all_of(text, [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return u > 0x20 && u < 0x7f && c != ';';
         });
}

void check_secret_length(const Field& field, std::string_view secret, std::string_view what,
                         Diagnostics& diag) {
  if (secret.size() < kMinSecret) {
    diag.error(field.value(), field.name() + ": " + std::string(what) + " must be at least " +
                                  std::to_string(kMinSecret) + " bytes, found " +
                                  std::to_string(secret.size()));
  }
}

// The file's bytes without trailing line ends and spaces (`echo secret > file` writes a newline
// that is not meant to be part of the key).
std::optional<std::string> read_secret_file(const Field& field, const std::string& path,
                                            Diagnostics& diag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diag.error(field.value(), field.name() + ": cannot read " + quoted(path) + ": " + std::strerror(errno));
    return std::nullopt;
  }
  std::string text(kMaxSecretFile + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) {
    diag.error(field.value(), field.name() + ": cannot read " + quoted(path));
    return std::nullopt;
  }
  if (text.size() > kMaxSecretFile) {
    diag.error(field.value(), field.name() + ": " + quoted(path) + " is larger than 4 KiB, too large for a secret");
    return std::nullopt;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

AffinityCookie read_affinity_cookie(const Field& field, Diagnostics& diag) {
  AffinityCookie out;
  const MapReader map(field, kAffinityKeys, diag, true);
  if (!map.is_map()) {
    return out;
  }
  if (const auto value = map.get("name")) {
    if (value->node.IsScalar() && is_cookie_name(value->node.Scalar())) {
      out.name = value->node.Scalar();
    } else {
      type_error(*value, "a cookie name (letters, digits and !#$%&'*+-.^_`|~)", diag);
    }
  }
  if (const auto value = map.get("path")) {
    if (value->node.IsScalar() && is_cookie_path(value->node.Scalar())) {
      out.path = value->node.Scalar();
    } else {
      type_error(*value, "a path that starts with \"/\" (no spaces, no ';')", diag);
    }
  }
  if (const auto value = map.get("max_age")) {
    const auto age = read_duration(*value, Zero::Allowed, diag);
    if (age && age->count() % 1000 != 0) {
      diag.error(value->value(), value->name() + ": Max-Age counts whole seconds, found " +
                                     quoted(value->node.Scalar()));
    } else {
      assign(age, out.max_age);
    }
  }
  if (const auto value = map.get("same_site")) {
    const std::string text = value->node.IsScalar() ? value->node.Scalar() : std::string();
    if (text == "lax") {
      out.same_site = "Lax";
    } else if (text == "strict") {
      out.same_site = "Strict";
    } else if (text == "none") {
      out.same_site = "None";  // cross-site pages (a Socket.IO endpoint on another site) need it
    } else {
      type_error(*value, "lax, strict or none", diag);
    }
  }
  const auto secret = map.get("secret");
  const auto secret_file = map.get("secret_file");
  if (secret && secret_file) {
    diag.error(secret_file->key, secret_file->name() + ": give either secret or secret_file, not both");
    return out;
  }
  if (secret) {
    if (auto text = read_string(*secret, diag)) {
      check_secret_length(*secret, *text, "the secret", diag);
      out.secret = std::move(*text);
    }
  }
  if (secret_file) {
    if (auto path = read_string(*secret_file, diag)) {
      if (auto text = read_secret_file(*secret_file, *path, diag)) {
        check_secret_length(*secret_file, *text, "the secret in " + quoted(*path), diag);
        out.secret = std::move(*text);
        out.secret_file = std::move(*path);
      }
    }
  }
  return out;
}

}  // namespace ringway::conf
