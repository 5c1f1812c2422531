// Sticky-key extraction: every kind, its fallbacks, and the edge cases of real requests.
#include "lb/hash_key.h"

#include <doctest/doctest.h>

#include <array>
#include <string_view>

using ringway::lb::extract_hash_key;
using ringway::lb::HashKeyKind;
using ringway::lb::HashKeySpec;
using ringway::lb::HeaderView;
using ringway::lb::parse_hash_key_spec;
using ringway::lb::RequestKeySource;

namespace {

constexpr std::string_view kIp = "10.1.2.3";

std::string_view key_of(std::string_view spec_text, std::string_view target,
                        std::span<const HeaderView> headers = {}) {
  const auto spec = parse_hash_key_spec(spec_text);
  REQUIRE(spec.has_value());
  return extract_hash_key(*spec, RequestKeySource{kIp, target, headers});
}

bool views_into(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace

TEST_CASE("hash_key spec: the five documented forms parse") {
  CHECK(parse_hash_key_spec("source_ip") == HashKeySpec{HashKeyKind::SourceIp, ""});
  CHECK(parse_hash_key_spec("path") == HashKeySpec{HashKeyKind::Path, ""});
  CHECK(parse_hash_key_spec("header:X-User-Id") == HashKeySpec{HashKeyKind::Header, "X-User-Id"});
  CHECK(parse_hash_key_spec("cookie:session") == HashKeySpec{HashKeyKind::Cookie, "session"});
  CHECK(parse_hash_key_spec("query:room") == HashKeySpec{HashKeyKind::Query, "room"});
  CHECK(parse_hash_key_spec("query:user.id") == HashKeySpec{HashKeyKind::Query, "user.id"});
}

TEST_CASE("hash_key spec: anything else is rejected") {
  for (const std::string_view bad :
       {"",           "source_ip ", "Source_IP",     "SOURCE_IP",  "path:",       "path:/x",
        "header",     "header:",    "header:X User", "header:a:b", "header:X(1)", "cookie:",
        "cookie:a=b", "cookie:a;b", "query:",        "query:a&b",  "query:a=b",   "query:a#b",
        "query:a b",  "uri:room",   ":room",         "Header:X"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_hash_key_spec(bad).has_value());
  }
}

TEST_CASE("source_ip key is the client address whatever the request carries") {
  const std::array headers{HeaderView{"X-User", "u1"}};
  CHECK(key_of("source_ip", "/ws?room=7", headers) == kIp);
}

TEST_CASE("header key: name matched case-insensitively, first occurrence wins, OWS trimmed") {
  const std::array headers{HeaderView{"Host", "example.com"}, HeaderView{"x-user-ID", " alice\t"},
                           HeaderView{"X-User-Id", "bob"}};
  CHECK(key_of("header:X-User-Id", "/", headers) == "alice");
  CHECK(key_of("header:x-user-id", "/", headers) == "alice");
}

TEST_CASE("header key falls back to the source IP when the header is missing or empty") {
  const std::array headers{HeaderView{"X-Empty", ""}, HeaderView{"X-Blank", "  "},
                           HeaderView{"X-Empty", "late"}};
  CHECK(key_of("header:X-Missing", "/", headers) == kIp);
  CHECK(key_of("header:X-Empty", "/", headers) == kIp);  // first occurrence decides
  CHECK(key_of("header:X-Blank", "/", headers) == kIp);
  CHECK(key_of("header:X-Any", "/", {}) == kIp);
}

TEST_CASE("cookie key: pairs parsed across every Cookie header, whitespace tolerated") {
  const std::array headers{HeaderView{"Cookie", "a=1;b=2"}, HeaderView{"X-Other", "sid=no"},
                           HeaderView{"cookie", "  theme = dark ;  sid=abc123 ; sid=late"}};
  CHECK(key_of("cookie:a", "/", headers) == "1");
  CHECK(key_of("cookie:b", "/", headers) == "2");
  CHECK(key_of("cookie:theme", "/", headers) == "dark");
  CHECK(key_of("cookie:sid", "/", headers) == "abc123");
}

TEST_CASE("cookie key: the first cookie of that name wins, across headers too") {
  const std::array headers{HeaderView{"COOKIE", "sid=first"}, HeaderView{"Cookie", "sid=second"}};
  CHECK(key_of("cookie:sid", "/", headers) == "first");
}

TEST_CASE("cookie key: a quoted value is unquoted") {
  const std::array headers{HeaderView{"Cookie", "sid=\"q-123\"; other=\"\""}};
  CHECK(key_of("cookie:sid", "/", headers) == "q-123");
  CHECK(key_of("cookie:other", "/", headers) == kIp);  // "" is an empty value
}

TEST_CASE("cookie key: names are exact and case-sensitive, prefixes do not match") {
  const std::array headers{HeaderView{"Cookie", "sidx=1; SID=2; xsid=3; sid"}};
  CHECK(key_of("cookie:sid", "/", headers) == kIp);
}

TEST_CASE("cookie key falls back to the source IP when missing or empty") {
  const std::array headers{HeaderView{"Cookie", "sid=; a=1"}, HeaderView{"Cookie", "sid=late"}};
  CHECK(key_of("cookie:sid", "/", headers) == kIp);
  CHECK(key_of("cookie:none", "/", headers) == kIp);
  CHECK(key_of("cookie:a", "/", {}) == kIp);
  const std::array empty_header{HeaderView{"Cookie", ""}};
  CHECK(key_of("cookie:a", "/", empty_header) == kIp);
}

TEST_CASE("query key: the parameter's raw value from the target's query string") {
  CHECK(key_of("query:room", "/p?x=1&room=7") == "7");
  CHECK(key_of("query:x", "/p?x=1&room=7") == "1");
  CHECK(key_of("query:room", "/p?rooms=1&room=2") == "2");      // no prefix match
  CHECK(key_of("query:room", "/p?room=a%20b+c") == "a%20b+c");  // no percent-decoding
  CHECK(key_of("query:room", "/p?&&room=7&") == "7");
  CHECK(key_of("query:room", "/p?room=a=b") == "a=b");  // value runs to the next '&'
}

TEST_CASE("query key: the first occurrence wins, even when it is empty") {
  CHECK(key_of("query:a", "/p?a=1&a=2") == "1");
  CHECK(key_of("query:a", "/p?a=&a=2") == kIp);
  CHECK(key_of("query:a", "/p?a&a=2") == kIp);
}

TEST_CASE("query key: the fragment is not part of the query") {
  CHECK(key_of("query:room", "/p?room=7#frag") == "7");
  CHECK(key_of("query:room", "/p?x=1#room=7") == kIp);
  CHECK(key_of("query:room", "/p#x?room=7") == kIp);
}

TEST_CASE("query key falls back to the source IP without a query or the parameter") {
  CHECK(key_of("query:room", "/p") == kIp);
  CHECK(key_of("query:room", "/p?") == kIp);
  CHECK(key_of("query:room", "/p?other=1") == kIp);
  CHECK(key_of("query:room", "") == kIp);
}

TEST_CASE("path key is the target up to the query or fragment") {
  CHECK(key_of("path", "/ws/chat?room=7") == "/ws/chat");
  CHECK(key_of("path", "/ws/chat") == "/ws/chat");
  CHECK(key_of("path", "/ws/chat#top") == "/ws/chat");
  CHECK(key_of("path", "/a?b#c") == "/a");
}

TEST_CASE("path key falls back to the source IP when the path is empty") {
  CHECK(key_of("path", "") == kIp);
  CHECK(key_of("path", "?x=1") == kIp);
}

TEST_CASE("extracted keys are views into the request, never copies") {
  const std::string_view target = "/ws/chat?room=7";
  const std::string_view cookie = "sid=abc";
  const std::string_view user = "alice";
  const std::array headers{HeaderView{"Cookie", cookie}, HeaderView{"X-User", user}};
  CHECK(views_into(key_of("query:room", target, headers), target));
  CHECK(views_into(key_of("path", target, headers), target));
  CHECK(views_into(key_of("cookie:sid", target, headers), cookie));
  CHECK(views_into(key_of("header:X-User", target, headers), user));
  CHECK(views_into(key_of("header:X-None", target, headers), kIp));
}
