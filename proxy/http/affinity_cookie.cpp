// Affinity cookie values (HMAC-SHA256 through OpenSSL 3's EVP_MAC) and their lookup table.
#include "proxy/http/affinity_cookie.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace ringway::http {
namespace {

struct MacFree {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

constexpr size_t kSha256Bytes = 32;

// HMAC-SHA256(key, pool NUL backend). Names cannot hold NUL, so no two (pool, backend) pairs give
// the same input. Only called while a configuration is built, never per request.
std::array<unsigned char, kSha256Bytes> hmac(std::string_view key, std::string_view pool,
                                              std::string_view backend) {
  const std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  const std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
  if (!ctx) throw std::runtime_error("affinity cookie: OpenSSL has no HMAC");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  // HMAC with an empty key is valid, but OpenSSL wants a non-null pointer.
  static constexpr unsigned char kEmpty = 0;
  const auto* key_bytes = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  const unsigned char separator = 0;
  std::array<unsigned char, kSha256Bytes> out{};
  size_t length = 0;
  if (EVP_MAC_init(ctx.get(), key_bytes, key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(pool.data()), pool.size()) != 1 ||
      EVP_MAC_update(ctx.get(), &separator, 1) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(backend.data()), backend.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &length, out.size()) != 1 || length != out.size()) {
    throw std::runtime_error("affinity cookie: HMAC-SHA256 failed");
  }
  return out;
}

// RFC 4648 section 5, without padding: every character is a cookie-octet, none needs quoting.
std::string base64url(std::span<const unsigned char> bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const size_t rest = bytes.size() - i; rest != 0) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (rest == 2 ? uint32_t{bytes[i + 1]} << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

}  // namespace

std::string affinity_value(std::string_view key, std::string_view pool, std::string_view backend) {
  const auto mac = hmac(key, pool, backend);
  return base64url(std::span(mac).first(kAffinityMacBytes));
}

const std::string& process_affinity_key() {
  // A function-local static: made once, thread-safe, whichever thread builds a configuration first.
  static const std::string key = [] {
    std::array<unsigned char, kSha256Bytes> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      // No randomness means forgeable cookies: better not to run at all.
      throw std::runtime_error("affinity cookie: RAND_bytes failed");
    }
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }();
  return key;
}

AffinityResult affinity_result(const AffinityLookup& lookup, uint32_t chosen) {
  switch (lookup.verdict) {
    case AffinityVerdict::Absent:
      return AffinityResult::Miss;
    case AffinityVerdict::Invalid:
      return AffinityResult::Invalid;
    case AffinityVerdict::Valid:
      break;
  }
  return lookup.backend == chosen ? AffinityResult::Hit : AffinityResult::Renewed;
}

AffinityCookie::AffinityCookie(Options options, std::string_view pool,
                               std::span<const std::string_view> backends)
    : options_(std::move(options)) {
  values_.reserve(backends.size());
  for (const std::string_view backend : backends) values_.push_back(affinity_value(options_.key, pool, backend));
  by_value_.reserve(values_.size());
  for (uint32_t i = 0; i < values_.size(); ++i) by_value_.emplace_back(values_[i], i);
  std::sort(by_value_.begin(), by_value_.end());
}

AffinityLookup AffinityCookie::check(std::string_view value) const {
  if (value.empty()) return {};
  // Anything not exactly a value's length is garbage: no search needed.
  if (value.size() != kAffinityValueLength) return {AffinityVerdict::Invalid, 0};
  const auto it = std::lower_bound(by_value_.begin(), by_value_.end(), value,
                                   [](const auto& entry, std::string_view v) { return entry.first < v; });
  if (it == by_value_.end() || it->first != value) return {AffinityVerdict::Invalid, 0};
  return {AffinityVerdict::Valid, it->second};
}

AffinityLookup AffinityCookie::lookup(std::span<const lb::HeaderView> headers) const {
  return check(lb::find_cookie(options_.name, headers));
}

std::string AffinityCookie::set_cookie_line(uint32_t backend, bool secure) const {
  std::string line;
  line.reserve(96 + options_.name.size() + options_.path.size());
  line.append("Set-Cookie: ").append(options_.name).append("=").append(values_[backend]);
  line.append("; Path=").append(options_.path);
  if (options_.max_age_seconds != 0) line.append("; Max-Age=").append(std::to_string(options_.max_age_seconds));
  line.append("; HttpOnly; SameSite=").append(options_.same_site);
  if (secure || options_.same_site == "None") line.append("; Secure");
  line.append("\r\n");
  return line;
}

std::string insert_header_lines(std::string_view head, std::string_view lines) {
  if (!head.ends_with("\r\n\r\n")) return std::string(head);
  std::string out;
  out.reserve(head.size() + lines.size());
  out.append(head.substr(0, head.size() - 2)).append(lines).append("\r\n");
  return out;
}

}  // namespace ringway::http
