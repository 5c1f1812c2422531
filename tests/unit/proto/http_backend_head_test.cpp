#include <doctest/doctest.h>

#include <string>

#include "http_test_util.h"
#include "proxy/http/request_head.h"

using namespace ringway::http;
using ringway::http::test::kValidUpgrade;

namespace {
std::string forwarded(const std::string& bytes, std::string_view ip = "10.0.0.7", std::string_view proto = "https") {
  const HeadParse parse = parse_request_head(bytes, 16384);
  REQUIRE(parse.status == HeadStatus::Complete);
  return build_backend_head(parse.head, ip, proto);
}
}  // namespace

TEST_CASE("the backend head is the client's head byte for byte plus X-Forwarded-For and -Proto") {
  const std::string expected = kValidUpgrade.substr(0, kValidUpgrade.size() - 2) +
                               "X-Forwarded-For: 10.0.0.7\r\nX-Forwarded-Proto: https\r\n\r\n";
  CHECK(forwarded(kValidUpgrade) == expected);
}

TEST_CASE("the target, header name case and odd spacing pass unchanged") {
  const std::string head =
      "GET /a%2Fb/../c?x=%20&y HTTP/1.1\r\n"
      "hOsT:example.com\r\n"
      "x-odd:   spaced   value\t\r\n"
      "\r\n";
  CHECK(forwarded(head, "::1", "http") ==
        "GET /a%2Fb/../c?x=%20&y HTTP/1.1\r\n"
        "hOsT:example.com\r\n"
        "x-odd:   spaced   value\t\r\n"
        "X-Forwarded-For: ::1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("X-Forwarded-For is appended to the last existing one; X-Forwarded-Proto is replaced") {
  const std::string head =
      "GET / HTTP/1.1\r\n"
      "x-forwarded-for: 1.1.1.1\r\n"
      "Host: a\r\n"
      "X-Forwarded-Proto: http\r\n"
      "X-Forwarded-For: 2.2.2.2, 3.3.3.3  \r\n"
      "x-forwarded-proto: gopher\r\n"
      "\r\n";
  CHECK(forwarded(head) ==
        "GET / HTTP/1.1\r\n"
        "x-forwarded-for: 1.1.1.1\r\n"
        "Host: a\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-For: 2.2.2.2, 3.3.3.3, 10.0.0.7\r\n"
        "\r\n");
}

TEST_CASE("an empty X-Forwarded-For gets the client address alone") {
  CHECK(forwarded("GET / HTTP/1.1\r\nX-Forwarded-For:\r\n\r\n") ==
        "GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.7\r\nX-Forwarded-Proto: https\r\n\r\n");
}

TEST_CASE("a hand-built head (no raw bytes) is written from its fields") {
  RequestHead head;
  head.method = "GET";
  head.target = "/x%2F";
  head.http_major = 1;
  head.http_minor = 1;
  head.headers = {{"Host", "a"}, {"X-Forwarded-For", "1.2.3.4"}};
  CHECK(build_backend_head(head, "5.6.7.8", "http") ==
        "GET /x%2F HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nX-Forwarded-Proto: http\r\n\r\n");
}

TEST_CASE("the backend head parses back to the same request") {
  const std::string out = forwarded(kValidUpgrade);
  const HeadParse again = parse_request_head(out, 16384);
  REQUIRE(again.status == HeadStatus::Complete);
  CHECK(again.head.head_length == out.size());
  CHECK(validate_upgrade(again.head).status == 0);
  CHECK(again.head.target == "/chat?room=a%2Fb");
}
