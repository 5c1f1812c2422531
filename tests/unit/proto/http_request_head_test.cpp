#include <doctest/doctest.h>

#include <string>

#include "http_test_util.h"
#include "proxy/http/request_head.h"

using namespace ringway::http;
using ringway::http::test::kValidUpgrade;

namespace {
constexpr size_t kMax = 16 * 1024;

bool inside(std::string_view view, std::string_view buffer) {
  return view.data() >= buffer.data() && view.data() + view.size() <= buffer.data() + buffer.size();
}
}  // namespace

TEST_CASE("a complete head is parsed with views into the caller's buffer") {
  const HeadParse parse = parse_request_head(kValidUpgrade, kMax);
  REQUIRE(parse.status == HeadStatus::Complete);
  const RequestHead& head = parse.head;
  CHECK(head.method == "GET");
  CHECK(head.target == "/chat?room=a%2Fb");
  CHECK(head.http_major == 1);
  CHECK(head.http_minor == 1);
  CHECK(head.head_length == kValidUpgrade.size());
  CHECK(head.raw == kValidUpgrade);
  REQUIRE(head.headers.size() == 7);
  CHECK(head.headers[0].name == "Host");
  CHECK(head.headers[0].value == "server.example.com:8080");
  CHECK(head.headers[5].value == "chat, superchat");
  for (const HeaderView& header : head.headers) {
    CHECK(inside(header.name, kValidUpgrade));
    CHECK(inside(header.value, kValidUpgrade));
  }
  CHECK(inside(head.target, kValidUpgrade));
  CHECK(head.find("sec-websocket-key")->value == "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK(head.find("X-Missing") == nullptr);
  CHECK(head.host() == "server.example.com");
}

TEST_CASE("a head split at every byte is NeedMore until its blank line, then Complete") {
  for (size_t n = 0; n < kValidUpgrade.size(); ++n) {
    CAPTURE(n);
    CHECK(parse_request_head(std::string_view(kValidUpgrade).substr(0, n), kMax).status == HeadStatus::NeedMore);
  }
  CHECK(parse_request_head(kValidUpgrade, kMax).status == HeadStatus::Complete);
}

TEST_CASE("resumed scanning gives the same answers as scanning from the start") {
  size_t scanned = 0;
  for (size_t n = 1; n <= kValidUpgrade.size(); ++n) {
    const HeadParse parse = parse_request_head(std::string_view(kValidUpgrade).substr(0, n), kMax, scanned);
    if (n < kValidUpgrade.size()) {
      CHECK(parse.status == HeadStatus::NeedMore);
      scanned = n;
    } else {
      CHECK(parse.status == HeadStatus::Complete);
      CHECK(parse.head.head_length == kValidUpgrade.size());
    }
  }
}

TEST_CASE("bytes pipelined after the head are not part of it") {
  const std::string buffer = kValidUpgrade + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58GET / HTTP/1.1\r\n\r\n";
  const HeadParse parse = parse_request_head(buffer, kMax);
  REQUIRE(parse.status == HeadStatus::Complete);
  CHECK(parse.head.head_length == kValidUpgrade.size());
  CHECK(parse.head.headers.size() == 7);
}

TEST_CASE("a body announced by Content-Length is left in the stream") {
  const std::string buffer = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  const HeadParse parse = parse_request_head(buffer, kMax);
  REQUIRE(parse.status == HeadStatus::Complete);
  CHECK(parse.head.head_length == buffer.size() - 5);
}

TEST_CASE("a head over the size limit is TooLarge, one that fits exactly is Complete") {
  SUBCASE("no blank line within the limit") {
    const std::string partial = "GET / HTTP/1.1\r\nX-Big: " + std::string(200, 'a');
    CHECK(parse_request_head(partial, 100).status == HeadStatus::TooLarge);
    CHECK(parse_request_head(partial, 1000).status == HeadStatus::NeedMore);
  }
  SUBCASE("the blank line is there but beyond the limit") {
    CHECK(parse_request_head(kValidUpgrade, kValidUpgrade.size() - 1).status == HeadStatus::TooLarge);
  }
  SUBCASE("exactly the limit") {
    CHECK(parse_request_head(kValidUpgrade, kValidUpgrade.size()).status == HeadStatus::Complete);
  }
  SUBCASE("exactly the limit without the blank line yet") {
    const std::string partial = kValidUpgrade.substr(0, 50);
    CHECK(parse_request_head(partial, 50).status == HeadStatus::TooLarge);
  }
}

TEST_CASE("malformed heads are rejected with a one-line reason") {
  struct Case {
    const char* name;
    std::string bytes;
  };
  const Case cases[] = {
      {"bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n"},
      {"bare LF in a header", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"},
      {"bare CR", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n  c\r\n\r\n"},
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"},
      {"unknown version text", "GET / HTTQ/1.1\r\nHost: a\r\n\r\n"},
      {"control character in a value", std::string("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n")},
      {"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"no target", "GET HTTP/1.1\r\n\r\n"},
      {"Content-Length and Transfer-Encoding", "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const HeadParse parse = parse_request_head(c.bytes, kMax);
    CHECK(parse.status == HeadStatus::Malformed);
    CHECK_FALSE(parse.reason.empty());
    CHECK(parse.reason.find('\n') == std::string_view::npos);
  }
}

TEST_CASE("binary garbage is Malformed at its first bytes, without waiting for a blank line") {
  const std::string tls_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  CHECK(parse_request_head(tls_hello, kMax).status == HeadStatus::Malformed);
  CHECK(parse_request_head("G\tT / HTTP/1.1", kMax).status == HeadStatus::Malformed);
  CHECK(parse_request_head(std::string(40, 'A'), kMax).status == HeadStatus::Malformed);
  CHECK(parse_request_head("GE", kMax).status == HeadStatus::NeedMore);
}

TEST_CASE("host() drops the port and keeps IPv6 brackets") {
  const auto host_of = [](const std::string& value) {
    const std::string bytes = "GET / HTTP/1.1\r\nHost: " + value + "\r\n\r\n";
    return std::string(parse_request_head(bytes, kMax).head.host());
  };
  CHECK(host_of("example.com") == "example.com");
  CHECK(host_of("Example.com:8080") == "Example.com");
  CHECK(host_of("[::1]:9000") == "[::1]");
  CHECK(host_of("[::1]") == "[::1]");
}
