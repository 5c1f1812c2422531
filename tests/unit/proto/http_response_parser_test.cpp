#include <doctest/doctest.h>

#include <string>

#include "proxy/http/response_head.h"

using namespace ringway::http;
using State = ResponseParser::State;

namespace {
const std::string k101 =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "\r\n";
const std::string kFrame("\x81\x05Hello", 7);
}  // namespace

TEST_CASE("a 101 followed by frame bytes in the same chunk stops at the end of the head") {
  ResponseParser parser;
  CHECK(parser.feed(k101 + kFrame) == State::Upgraded);
  CHECK(parser.consumed() == k101.size());
  CHECK(parser.status_code() == 101);
  CHECK(parser.accept_header() == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(parser.extensions_header() == "permessage-deflate");
  // Later bytes are the relay's: the parser takes none.
  CHECK(parser.feed(kFrame) == State::Upgraded);
  CHECK(parser.consumed() == 0);
}

TEST_CASE("a 101 head fed one byte at a time is NeedMore until its last byte") {
  ResponseParser parser;
  for (size_t i = 0; i + 1 < k101.size(); ++i) {
    CHECK(parser.feed(std::string_view(k101).substr(i, 1)) == State::NeedMore);
    CHECK(parser.consumed() == 1);
  }
  CHECK(parser.feed(std::string_view(k101).substr(k101.size() - 1)) == State::Upgraded);
  CHECK(parser.consumed() == 1);
  CHECK(parser.accept_header() == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("a 101 split at every offset ends at the same place") {
  const std::string stream = k101 + kFrame;
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    ResponseParser parser;
    const State first = parser.feed(std::string_view(stream).substr(0, cut));
    size_t head = parser.consumed();
    if (first != State::Upgraded) {
      CHECK(parser.feed(std::string_view(stream).substr(cut)) == State::Upgraded);
      head += parser.consumed();
    }
    CHECK(head == k101.size());
    CHECK(parser.accept_header() == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  }
}

TEST_CASE("a 403 with a Content-Length body split across chunks ends exactly after the body") {
  const std::string head = "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n";
  ResponseParser parser;
  CHECK(parser.feed(head + "01234") == State::InBody);
  CHECK(parser.consumed() == head.size() + 5);
  CHECK_FALSE(parser.ends_at_eof());
  CHECK(parser.status_code() == 403);
  CHECK(parser.feed("567") == State::InBody);
  CHECK(parser.consumed() == 3);
  CHECK(parser.feed("89trailing garbage") == State::MessageDone);
  CHECK(parser.consumed() == 2);
  CHECK(parser.accept_header().empty());
}

TEST_CASE("a chunked body ends after its last chunk") {
  const std::string body = "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  ResponseParser parser;
  CHECK(parser.feed(body.substr(0, 60)) == State::InBody);
  CHECK(parser.feed(body.substr(60) + "xyz") == State::MessageDone);
  CHECK(parser.consumed() == body.size() - 60);
}

TEST_CASE("a body without length ends at EOF") {
  ResponseParser parser;
  CHECK(parser.feed("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nsome") == State::InBody);
  CHECK(parser.ends_at_eof());
  CHECK(parser.feed(" more") == State::InBody);
  CHECK(parser.finish() == State::MessageDone);
}

TEST_CASE("EOF before the head or the announced body is complete is an Error") {
  ResponseParser in_head;
  CHECK(in_head.feed("HTTP/1.1 403 Forb") == State::NeedMore);
  CHECK(in_head.finish() == State::Error);
  ResponseParser short_body;
  CHECK(short_body.feed("HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nabc") == State::InBody);
  CHECK(short_body.finish() == State::Error);
}

TEST_CASE("interim 100 Continue is skipped and the 101 after it counts") {
  ResponseParser parser;
  const std::string interim = "HTTP/1.1 100 Continue\r\nSec-WebSocket-Accept: bogus\r\n\r\n";
  CHECK(parser.feed(interim + k101.substr(0, 10)) == State::NeedMore);
  CHECK(parser.feed(k101.substr(10) + kFrame) == State::Upgraded);
  CHECK(parser.consumed() == k101.size() - 10);
  CHECK(parser.status_code() == 101);
  CHECK(parser.accept_header() == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("204 and 304 end at their head whatever Content-Length says") {
  for (const char* status : {"204 No Content", "304 Not Modified"}) {
    ResponseParser parser;
    const std::string head = std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 5\r\n\r\n";
    CHECK(parser.feed(head + "abc") == State::MessageDone);
    CHECK(parser.consumed() == head.size());
  }
}

TEST_CASE("a response with no body ends at the head") {
  ResponseParser parser;
  const std::string head = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
  CHECK(parser.feed(head + "x") == State::MessageDone);
  CHECK(parser.consumed() == head.size());
}

TEST_CASE("repeated Sec-WebSocket-Accept headers are joined, so they never match") {
  ResponseParser parser;
  CHECK(parser.feed("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: a\r\nsec-websocket-accept: b\r\n\r\n") ==
        State::Upgraded);
  CHECK(parser.accept_header() == "a, b");
}

TEST_CASE("garbage and over-long heads are Errors, and stay so") {
  ResponseParser garbage;
  CHECK(garbage.feed("SSH-2.0-OpenSSH_9.2\r\n") == State::Error);
  CHECK(garbage.feed("HTTP/1.1 101 OK\r\n\r\n") == State::Error);
  ResponseParser bad_length;
  CHECK(bad_length.feed("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n") == State::Error);
  ResponseParser too_long;
  too_long.set_max_head_size(100);
  CHECK(too_long.feed("HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + std::string(200, 'a')) == State::Error);
}
