// parse_duration, parse_size, parse_endpoint: the value syntaxes of the configuration file.
#include <doctest/doctest.h>

#include <string>

#include "conf/config.h"

using ringway::conf::Duration;
using ringway::conf::parse_duration;
using ringway::conf::parse_endpoint;
using ringway::conf::parse_size;

TEST_CASE("durations accept ms, s, m and h") {
  CHECK(parse_duration("250ms") == Duration{250});
  CHECK(parse_duration("5s") == Duration{5000});
  CHECK(parse_duration("2m") == Duration{120000});
  CHECK(parse_duration("1h") == Duration{3600000});
  CHECK(parse_duration("0ms") == Duration{0});
  CHECK(parse_duration("0s") == Duration{0});
  CHECK(parse_duration("007s") == Duration{7000});
}

TEST_CASE("a bare 0 is a zero duration but any other bare number needs a unit") {
  CHECK(parse_duration("0") == Duration{0});
  CHECK_FALSE(parse_duration("5").has_value());
  CHECK_FALSE(parse_duration("1000").has_value());
}

TEST_CASE("malformed durations are refused") {
  for (const char* text : {"", "s", "ms", "-5s", "+5s", "5 s", " 5s", "5s ", "1.5s", "5S", "5sec",
                           "5d", "5us", "1m30s", "five seconds", "0x10s", "5ms5"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("durations that overflow are refused") {
  // 2^63 - 1 ms is the largest Duration; an hour count past it must not wrap.
  CHECK(parse_duration("9223372036854775807ms") == Duration{9223372036854775807});
  CHECK_FALSE(parse_duration("9223372036854775808ms").has_value());
  CHECK_FALSE(parse_duration("9223372036854776s").has_value());
  CHECK_FALSE(parse_duration("2562047788016h").has_value());
  CHECK(parse_duration("2562047788015h") == Duration{2562047788015LL * 3600000});
  CHECK_FALSE(parse_duration("99999999999999999999999s").has_value());
}

TEST_CASE("sizes accept bytes and binary and decimal units") {
  CHECK(parse_size("0") == 0U);
  CHECK(parse_size("512") == 512U);
  CHECK(parse_size("64KiB") == 64U * 1024);
  CHECK(parse_size("16MiB") == 16U * 1024 * 1024);
  CHECK(parse_size("1GiB") == 1024ULL * 1024 * 1024);
  CHECK(parse_size("2KB") == 2000U);
  CHECK(parse_size("3MB") == 3000000U);
  CHECK(parse_size("4GB") == 4000000000ULL);
}

TEST_CASE("malformed sizes are refused") {
  for (const char* text : {"", "KiB", "-1", "+1", "1.5MiB", "64 KiB", "64kib", "64KIB", "64kb",
                           "64K", "64B", "1TiB", "64KiBs", " 64", "0x40"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_size(text).has_value());
  }
}

TEST_CASE("sizes that overflow 64 bits are refused") {
  CHECK(parse_size("18446744073709551615") == 18446744073709551615ULL);
  CHECK_FALSE(parse_size("18446744073709551616").has_value());
  CHECK(parse_size("17179869183GiB") == 17179869183ULL * 1024 * 1024 * 1024);
  CHECK_FALSE(parse_size("17179869184GiB").has_value());
  CHECK_FALSE(parse_size("18446744073709552GB").has_value());
}

TEST_CASE("an IPv4 endpoint splits into host and port and keeps its text") {
  const auto endpoint = parse_endpoint("127.0.0.1:8080");
  REQUIRE(endpoint.has_value());
  CHECK(endpoint->text == "127.0.0.1:8080");
  CHECK(endpoint->host == "127.0.0.1");
  CHECK(endpoint->port == 8080);
}

TEST_CASE("a host name endpoint is kept as written for later resolution") {
  const auto endpoint = parse_endpoint("backend-1.internal:9001");
  REQUIRE(endpoint.has_value());
  CHECK(endpoint->host == "backend-1.internal");
  CHECK(endpoint->port == 9001);
}

TEST_CASE("an IPv6 endpoint is written in brackets and stored without them") {
  const auto loopback = parse_endpoint("[::1]:8080");
  REQUIRE(loopback.has_value());
  CHECK(loopback->text == "[::1]:8080");
  CHECK(loopback->host == "::1");
  CHECK(loopback->port == 8080);
  const auto any = parse_endpoint("[::]:443");
  REQUIRE(any.has_value());
  CHECK(any->host == "::");
  const auto full = parse_endpoint("[2001:db8::42]:1");
  REQUIRE(full.has_value());
  CHECK(full->host == "2001:db8::42");
  CHECK(full->port == 1);
}

TEST_CASE("ports from 1 to 65535 are accepted") {
  CHECK(parse_endpoint("h:1")->port == 1);
  CHECK(parse_endpoint("h:65535")->port == 65535);
}

TEST_CASE("an asterisk host is an ordinary host name, not a wildcard") {
  const auto endpoint = parse_endpoint("*:80");
  REQUIRE(endpoint.has_value());
  CHECK(endpoint->host == "*");
}

TEST_CASE("endpoints with a bad port or host are refused") {
  for (const char* text : {"127.0.0.1:0",
                           "127.0.0.1:65536",
                           "127.0.0.1:99999",
                           "127.0.0.1:100000",
                           "127.0.0.1:",
                           "127.0.0.1",
                           "127.0.0.1:-1",
                           "127.0.0.1:+80",
                           "127.0.0.1:80a",
                           "127.0.0.1: 80",
                           ":8080",
                           "[]:8080",
                           "::1:8080",
                           "[::1]8080",
                           "[::1]:",
                           "[::1",
                           "::1]:80",
                           "[127.0.0.1]:80",
                           "[[::1]]:80",
                           "host name:80",
                           "host:8080 ",
                           "",
                           ":",
                           "a:b:80"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_endpoint(text).has_value());
  }
}
