#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proxy/http/message_framer.h"

using namespace ringway::http;
using Event = MessageFramer::Event;
using Kind = MessageFramer::Kind;

namespace {

struct Mark {
  Event event;
  size_t offset;
  int status;
  bool operator==(const Mark&) const = default;
};

// Feeds `stream` in pieces of at most `piece` bytes (0: whole), feeding again after every head and
// message end, and records where each event happened.
std::vector<Mark> run(Kind kind, std::string_view stream, size_t piece, bool head_request = false,
                      bool* eof_ends = nullptr) {
  MessageFramer framer(kind);
  framer.set_head_request(head_request);
  std::vector<Mark> marks;
  size_t pos = 0;
  bool again = false;
  while (pos < stream.size() || again) {
    const size_t n = piece == 0 ? stream.size() - pos : std::min(piece, stream.size() - pos);
    const MessageFramer::Step step = framer.feed(stream.substr(pos, n));
    REQUIRE(step.consumed <= n);
    if (step.event == Event::NeedMore) REQUIRE(step.consumed == n);
    pos += step.consumed;
    if (step.event == Event::Error) {
      marks.push_back({Event::Error, 0, 0});
      return marks;
    }
    again = step.event != Event::NeedMore;
    if (again) marks.push_back({step.event, pos, framer.status_code()});
  }
  if (eof_ends != nullptr) *eof_ends = framer.finish();
  return marks;
}

// The same marks whatever the split: whole, then every piece size from 1 to 7.
std::vector<Mark> run_all_splits(Kind kind, std::string_view stream, bool head_request = false) {
  const std::vector<Mark> whole = run(kind, stream, 0, head_request);
  for (size_t piece = 1; piece <= 7; ++piece) CHECK(run(kind, stream, piece, head_request) == whole);
  return whole;
}

}  // namespace

TEST_CASE("a request without a body ends at its head, and the next one follows") {
  const std::string a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto marks = run_all_splits(Kind::Request, a + b);
  REQUIRE(marks.size() == 4);
  CHECK(marks[0] == Mark{Event::HeadDone, a.size(), 0});
  CHECK(marks[1] == Mark{Event::MessageDone, a.size(), 0});
  CHECK(marks[3] == Mark{Event::MessageDone, a.size() + b.size(), 0});
}

TEST_CASE("a Content-Length body ends exactly after its bytes; what follows is not taken") {
  const std::string a = "POST /e HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  const std::string rest = "GET / HTTP/1.1\r\n\r\n";
  const auto marks = run_all_splits(Kind::Request, a + rest);
  REQUIRE(marks.size() >= 2);
  CHECK(marks[1] == Mark{Event::MessageDone, a.size(), 0});
}

TEST_CASE("a chunked body with extensions and trailers ends after its last CRLF") {
  const std::string a =
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
  const auto marks = run_all_splits(Kind::Request, a + "GET / HTTP/1.1\r\n\r\n");
  REQUIRE(marks.size() >= 2);
  CHECK(marks[1] == Mark{Event::MessageDone, a.size(), 0});
}

TEST_CASE("request framing errors: bad chunk size, Content-Length with Transfer-Encoding") {
  CHECK(run(Kind::Request, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0).back().event ==
        Event::Error);
  CHECK(run(Kind::Request, "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 0)
            .back()
            .event == Event::Error);
  CHECK(run(Kind::Request, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0).back().event == Event::Error);
}

TEST_CASE("keep-alive follows the version and Connection") {
  MessageFramer a(Kind::Request);
  CHECK(a.feed("GET / HTTP/1.1\r\n\r\n").event == Event::HeadDone);
  CHECK(a.keep_alive());
  MessageFramer b(Kind::Request);
  CHECK(b.feed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").event == Event::HeadDone);
  CHECK_FALSE(b.keep_alive());
  MessageFramer c(Kind::Request);
  CHECK(c.feed("GET / HTTP/1.0\r\n\r\n").event == Event::HeadDone);
  CHECK_FALSE(c.keep_alive());
  MessageFramer d(Kind::Request);
  CHECK(d.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").event == Event::HeadDone);
  CHECK(d.keep_alive());
}

TEST_CASE("a plain request with Upgrade: h2c is framed as a plain request") {
  const std::string a = "POST / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nhi";
  const auto marks = run_all_splits(Kind::Request, a + "GET / HTTP/1.1\r\n\r\n");
  REQUIRE(marks.size() == 4);
  CHECK(marks[1] == Mark{Event::MessageDone, a.size(), 0});
}

TEST_CASE("interim 1xx responses end at their head; the final answer follows") {
  const std::string c100 = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  MessageFramer f(Kind::Response);
  auto step = f.feed(c100 + ok);
  CHECK(step.event == Event::HeadDone);
  CHECK(step.consumed == c100.size());
  CHECK(f.interim());
  step = f.feed(ok);
  CHECK(step.event == Event::MessageDone);
  CHECK(step.consumed == 0);
  const auto marks = run_all_splits(Kind::Response, c100 + ok);
  REQUIRE(marks.size() == 4);
  CHECK(marks[2] == Mark{Event::HeadDone, c100.size() + ok.size() - 2, 200});
  CHECK(marks[3] == Mark{Event::MessageDone, c100.size() + ok.size(), 200});
}

TEST_CASE("204, 304 and answers to HEAD have no body whatever their head says") {
  const std::string r204 = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
  const std::string r304 = "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n";
  auto marks = run_all_splits(Kind::Response, r204 + r304);
  REQUIRE(marks.size() == 4);
  CHECK(marks[1] == Mark{Event::MessageDone, r204.size(), 204});
  CHECK(marks[3] == Mark{Event::MessageDone, r204.size() + r304.size(), 304});
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  marks = run_all_splits(Kind::Response, head, true);
  REQUIRE(marks.size() == 2);
  CHECK(marks[1] == Mark{Event::MessageDone, head.size(), 200});
}

TEST_CASE("a chunked response ends at its last chunk, keep-alive") {
  const std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  MessageFramer f(Kind::Response);
  CHECK(f.feed(r).event == Event::HeadDone);
  CHECK(f.keep_alive());
  const auto step = f.feed(std::string_view(r).substr(r.find("\r\n\r\n") + 4));
  CHECK(step.event == Event::MessageDone);
  CHECK(f.keep_alive());
}

TEST_CASE("a response without length ends at EOF and allows no keep-alive") {
  bool eof_ends = false;
  const auto marks = run(Kind::Response, "HTTP/1.1 200 OK\r\n\r\nuntil the end", 3, false, &eof_ends);
  REQUIRE(marks.size() == 1);
  CHECK(marks[0].event == Event::HeadDone);
  CHECK(eof_ends);
  MessageFramer f(Kind::Response);
  CHECK(f.feed("HTTP/1.1 200 OK\r\n\r\n").event == Event::HeadDone);
  CHECK_FALSE(f.keep_alive());
}

TEST_CASE("EOF inside a Content-Length body or a head does not end the message") {
  bool eof_ends = true;
  run(Kind::Response, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, false, &eof_ends);
  CHECK_FALSE(eof_ends);
  eof_ends = true;
  run(Kind::Response, "HTTP/1.1 200 OK\r\nContent-Le", 0, false, &eof_ends);
  CHECK_FALSE(eof_ends);
}

TEST_CASE("a response head over the limit is an error") {
  MessageFramer f(Kind::Response);
  f.set_max_head_size(64);
  const std::string head = "HTTP/1.1 200 OK\r\nX-Pad: " + std::string(100, 'a') + "\r\n\r\n";
  bool error = false;
  for (size_t i = 0; i < head.size() && !error; i += 10) {
    error = f.feed(std::string_view(head).substr(i, 10)).event == Event::Error;
  }
  CHECK(error);
}

TEST_CASE("an invalid status line is an error") {
  CHECK(run(Kind::Response, "HTTP/1.1 04 x\r\n\r\n", 0).back().event == Event::Error);
  CHECK(run(Kind::Response, "this is not HTTP\r\n\r\n", 0).back().event == Event::Error);
}
