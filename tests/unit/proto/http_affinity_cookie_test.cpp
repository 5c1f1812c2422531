// The affinity cookie: values name backends by name under a key, forged or stale values are told
// apart from absent ones, the cookie is found among others in any Cookie header, and the
// Set-Cookie line carries the attributes operators expect.
#include <doctest/doctest.h>

#include <array>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/affinity_cookie.h"

using ringway::http::affinity_result;
using ringway::http::affinity_value;
using ringway::http::AffinityCookie;
using ringway::http::AffinityLookup;
using ringway::http::AffinityResult;
using ringway::http::AffinityVerdict;
using ringway::http::insert_header_lines;
using ringway::lb::HeaderView;

namespace {

constexpr std::string_view kKey = "0123456789abcdef-test-key";
constexpr std::array<std::string_view, 3> kBackends = {"chat-1", "chat-2", "chat-3"};

AffinityCookie make_cookie(std::string_view key = kKey, std::string name = "RINGWAY_AFFINITY",
                           uint64_t max_age = 0, std::string_view pool = "chat") {
  AffinityCookie::Options options;
  options.name = std::move(name);
  options.key = std::string(key);
  options.max_age_seconds = max_age;
  return AffinityCookie(options, pool, kBackends);
}

bool is_base64url(std::string_view text) {
  for (const char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("affinity values are 22 base64url characters that do not show the backend's name") {
  const std::string value = affinity_value(kKey, "chat", "chat-1");
  CHECK(value.size() == ringway::http::kAffinityValueLength);
  CHECK(is_base64url(value));
  CHECK(value.find("chat") == std::string::npos);
}

TEST_CASE("affinity values depend on the key, the pool and the backend name, and nothing else") {
  const std::string v = affinity_value(kKey, "chat", "chat-1");
  CHECK(affinity_value(kKey, "chat", "chat-1") == v);  // deterministic: another instance agrees
  CHECK(affinity_value("another key of 16+ bytes", "chat", "chat-1") != v);
  CHECK(affinity_value(kKey, "chat2", "chat-1") != v);
  CHECK(affinity_value(kKey, "chat", "chat-2") != v);
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  CHECK(affinity_value(kKey, "ab", "c") != affinity_value(kKey, "a", "bc"));
}

TEST_CASE("the value is exactly base64url(HMAC-SHA256(key, pool NUL backend)[:16]), so that instances of any version agree") {
  // Python: base64.urlsafe_b64encode(hmac.new(key, b"chat\0chat-1", sha256).digest()[:16]), "=" stripped.
  CHECK(affinity_value(kKey, "chat", "chat-1") == "NpjpLD0vftzFR0DaSPU2VA");
}

TEST_CASE("the cookie round-trips: each backend's value names that backend") {
  const AffinityCookie cookie = make_cookie();
  std::set<std::string> seen;
  for (uint32_t i = 0; i < kBackends.size(); ++i) {
    const std::string& value = cookie.value_of(i);
    CHECK(value == affinity_value(kKey, "chat", kBackends[i]));
    seen.insert(value);
    const AffinityLookup lookup = cookie.check(value);
    CHECK(lookup.verdict == AffinityVerdict::Valid);
    CHECK(lookup.backend == i);
  }
  CHECK(seen.size() == kBackends.size());
}

TEST_CASE("a tampered value is invalid, whatever character was changed") {
  const AffinityCookie cookie = make_cookie();
  const std::string good = cookie.value_of(1);
  for (size_t at = 0; at < good.size(); ++at) {
    std::string bad = good;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    CAPTURE(at);
    CHECK(cookie.check(bad).verdict == AffinityVerdict::Invalid);
  }
  CHECK(cookie.check(good + "A").verdict == AffinityVerdict::Invalid);
  CHECK(cookie.check(good.substr(0, 21)).verdict == AffinityVerdict::Invalid);
  CHECK(cookie.check("chat-1").verdict == AffinityVerdict::Invalid);  // a name in clear is no value
  CHECK(cookie.check(std::string(22, 'A')).verdict == AffinityVerdict::Invalid);
  CHECK(cookie.check("").verdict == AffinityVerdict::Absent);
}

TEST_CASE("a value made under another key or for another pool is invalid") {
  const AffinityCookie cookie = make_cookie();
  const AffinityCookie other_key = make_cookie("a different secret, long enough");
  const AffinityCookie other_pool = make_cookie(kKey, "RINGWAY_AFFINITY", 0, "lobby");
  for (uint32_t i = 0; i < kBackends.size(); ++i) {
    CHECK(cookie.check(other_key.value_of(i)).verdict == AffinityVerdict::Invalid);
    CHECK(cookie.check(other_pool.value_of(i)).verdict == AffinityVerdict::Invalid);
  }
  // The same key in another instance (same pool and names, any order) accepts them.
  const std::array<std::string_view, 3> reordered = {"chat-3", "chat-1", "chat-2"};
  AffinityCookie::Options options;
  options.key = std::string(kKey);
  const AffinityCookie twin(options, "chat", reordered);
  const AffinityLookup lookup = twin.check(cookie.value_of(0));  // chat-1
  CHECK(lookup.verdict == AffinityVerdict::Valid);
  CHECK(lookup.backend == 1);  // chat-1's index in the other order
}

TEST_CASE("the cookie is found among others, in any of several Cookie headers") {
  const AffinityCookie cookie = make_cookie();
  const std::string v2 = cookie.value_of(2);
  const std::string line = "theme=dark; RINGWAY_AFFINITY=" + v2 + "; io=abc";
  {
    const std::vector<HeaderView> headers = {{"Host", "x"}, {"Cookie", line}};
    const AffinityLookup lookup = cookie.lookup(headers);
    CHECK(lookup.verdict == AffinityVerdict::Valid);
    CHECK(lookup.backend == 2);
  }
  {
    const std::string second = "RINGWAY_AFFINITY=" + v2;
    const std::vector<HeaderView> headers = {{"cookie", "a=1; b=2"}, {"COOKIE", second}};
    CHECK(cookie.lookup(headers).backend == 2);
    CHECK(cookie.lookup(headers).verdict == AffinityVerdict::Valid);
  }
  {
    const std::string quoted = "RINGWAY_AFFINITY=\"" + v2 + "\"";
    const std::vector<HeaderView> headers = {{"Cookie", quoted}};
    CHECK(cookie.lookup(headers).verdict == AffinityVerdict::Valid);
  }
  {
    // The first cookie of the name decides (the browser sends the most specific path first).
    const std::string both = "RINGWAY_AFFINITY=garbage; RINGWAY_AFFINITY=" + v2;
    const std::vector<HeaderView> headers = {{"Cookie", both}};
    CHECK(cookie.lookup(headers).verdict == AffinityVerdict::Invalid);
  }
  {
    // Names are case-sensitive; a prefix is another cookie.
    const std::string other = "ringway_affinity=" + v2 + "; RINGWAY_AFFINITY_X=" + v2;
    const std::vector<HeaderView> headers = {{"Cookie", other}};
    CHECK(cookie.lookup(headers).verdict == AffinityVerdict::Absent);
  }
  {
    const std::vector<HeaderView> headers = {{"Host", "x"}};
    CHECK(cookie.lookup(headers).verdict == AffinityVerdict::Absent);
    const std::vector<HeaderView> empty_value = {{"Cookie", "RINGWAY_AFFINITY="}};
    CHECK(cookie.lookup(empty_value).verdict == AffinityVerdict::Absent);
  }
  {
    const AffinityCookie named = make_cookie(kKey, "SRV");
    const std::string mine = "SRV=" + named.value_of(0);
    const std::vector<HeaderView> headers = {{"Cookie", mine}};
    CHECK(named.lookup(headers).verdict == AffinityVerdict::Valid);
    CHECK(cookie.lookup(headers).verdict == AffinityVerdict::Absent);
  }
}

TEST_CASE("Set-Cookie carries the value, Path, Max-Age when set, HttpOnly, SameSite=Lax and Secure over TLS") {
  const AffinityCookie session = make_cookie();
  CHECK(session.set_cookie_line(1, false) ==
        "Set-Cookie: RINGWAY_AFFINITY=" + session.value_of(1) + "; Path=/; HttpOnly; SameSite=Lax\r\n");
  const AffinityCookie hour = make_cookie(kKey, "SRV", 3600);
  CHECK(hour.set_cookie_line(0, true) ==
        "Set-Cookie: SRV=" + hour.value_of(0) + "; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure\r\n");
  AffinityCookie::Options options;
  options.key = "k";
  options.path = "/socket.io/";
  const AffinityCookie scoped(options, "chat", kBackends);
  CHECK(scoped.set_cookie_line(2, false).find("; Path=/socket.io/;") != std::string::npos);
  options.same_site = "None";  // browsers drop SameSite=None without Secure, even over http
  const AffinityCookie cross_site(options, "chat", kBackends);
  CHECK(cross_site.set_cookie_line(0, false).ends_with("; HttpOnly; SameSite=None; Secure\r\n"));
  options.same_site = "Strict";
  CHECK(AffinityCookie(options, "chat", kBackends).set_cookie_line(0, false).ends_with("; SameSite=Strict\r\n"));
}

TEST_CASE("the result of a request: hit, miss, invalid or renewed") {
  CHECK(affinity_result({AffinityVerdict::Valid, 2}, 2) == AffinityResult::Hit);
  CHECK(affinity_result({AffinityVerdict::Valid, 2}, 0) == AffinityResult::Renewed);
  CHECK(affinity_result({AffinityVerdict::Absent, 0}, 0) == AffinityResult::Miss);
  CHECK(affinity_result({AffinityVerdict::Invalid, 0}, 0) == AffinityResult::Invalid);
}

TEST_CASE("header lines are inserted before the blank line of a head") {
  const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  CHECK(insert_header_lines(head, "Set-Cookie: a=b\r\n") ==
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSet-Cookie: a=b\r\n\r\n");
  CHECK(insert_header_lines("HTTP/1.1 200 OK\r\n\r\n", "X: 1\r\nY: 2\r\n") == "HTTP/1.1 200 OK\r\nX: 1\r\nY: 2\r\n\r\n");
  CHECK(insert_header_lines("HTTP/1.1 200 OK\r\n", "X: 1\r\n") == "HTTP/1.1 200 OK\r\n");  // no blank line
  CHECK(insert_header_lines(head, "") == head);
}

TEST_CASE("the process key is 32 random bytes, the same at every call") {
  const std::string& key = ringway::http::process_affinity_key();
  CHECK(key.size() == 32);
  CHECK(&ringway::http::process_affinity_key() == &key);
  CHECK(key != std::string(32, '\0'));
}
