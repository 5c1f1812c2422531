// The bytes the http and websocket checks send, and how the backend's answers are judged.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "health/probe_wire.h"
#include "health/schedule.h"

using namespace ringway;
using namespace ringway::health;

namespace {

std::vector<uint8_t> server_frame(ws::Opcode opcode, std::vector<uint8_t> payload) {
  std::vector<uint8_t> out(ws::frame_size(payload.size(), false));
  out.resize(ws::write_frame(out, opcode, payload, nullptr));
  return out;
}

const std::vector<uint8_t> kPing = {1, 2, 3, 4, 5, 6, 7, 8};

}  // namespace

TEST_CASE("the http check is a GET of the path with Host and Connection: close") {
  CHECK(http_check_request("10.0.0.1:9001", "/health?x=1") ==
        "GET /health?x=1 HTTP/1.1\r\nHost: 10.0.0.1:9001\r\nUser-Agent: ringway-health-check\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n");
}

TEST_CASE("the websocket check is a valid RFC 6455 upgrade of the path") {
  const std::string key = websocket_key({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
  CHECK(key == "AAECAwQFBgcICQoLDA0ODw==");
  CHECK(websocket_check_request("chat-1:80", "/ws", key) ==
        "GET /ws HTTP/1.1\r\nHost: chat-1:80\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\nSec-WebSocket-Version: 13\r\n"
        "User-Agent: ringway-health-check\r\n\r\n");
}

TEST_CASE("http statuses: 2xx and 3xx are up, anything else is the reason") {
  for (const int ok : {200, 204, 299, 301, 304, 399}) CHECK(judge_http_status(ok).empty());
  CHECK(judge_http_status(503) == "status 503");
  CHECK(judge_http_status(404) == "status 404");
  CHECK(judge_http_status(101) == "status 101");
  CHECK(judge_http_status(199) == "status 199");
}

TEST_CASE("a Pong with the Ping's payload is seen, split at every byte") {
  std::vector<uint8_t> stream = server_frame(ws::Opcode::Text, {'h', 'i'});  // a hello first
  const auto pong = server_frame(ws::Opcode::Pong, kPing);
  stream.insert(stream.end(), pong.begin(), pong.end());
  for (size_t split = 0; split <= stream.size(); ++split) {
    CAPTURE(split);
    CheckFrameReader reader(kPing);
    reader.feed(std::span(stream).first(split));
    CHECK(reader.seen().pong == (split == stream.size()));
    reader.feed(std::span(stream).subspan(split));
    CHECK(reader.seen().pong);
    CHECK_FALSE(reader.seen().close);
    CHECK(reader.seen().error == ws::FrameError::None);
  }
}

TEST_CASE("a Pong with another payload is not the answer") {
  CheckFrameReader reader(kPing);
  reader.feed(server_frame(ws::Opcode::Pong, {1, 2, 3}));
  reader.feed(server_frame(ws::Opcode::Pong, {}));
  CHECK_FALSE(reader.seen().pong);
  reader.feed(server_frame(ws::Opcode::Pong, kPing));
  CHECK(reader.seen().pong);
}

TEST_CASE("a Close is seen; a masked server frame is a protocol error") {
  CheckFrameReader closing(kPing);
  closing.feed(server_frame(ws::Opcode::Close, {0x03, 0xE8}));
  CHECK(closing.seen().close);
  CHECK_FALSE(closing.seen().pong);

  CheckFrameReader broken(kPing);
  const std::array<uint8_t, 4> mask{9, 9, 9, 9};
  std::vector<uint8_t> masked(ws::frame_size(kPing.size(), true));
  masked.resize(ws::write_frame(masked, ws::Opcode::Pong, kPing, &mask));
  broken.feed(masked);
  CHECK(broken.seen().error == ws::FrameError::MaskViolation);
  CHECK_FALSE(broken.seen().pong);
}

TEST_CASE("first checks spread over the whole interval; later ones stay within 10% of it") {
  Schedule schedule(42);
  std::array<int, 4> quarters{};
  for (int i = 0; i < 4000; ++i) {
    const uint64_t d = schedule.first_delay(2000);
    REQUIRE(d < 2000);
    ++quarters[d / 500];
  }
  for (const int q : quarters) CHECK(q > 800);  // ~1000 each
  uint64_t low = 10000;
  uint64_t high = 0;
  for (int i = 0; i < 4000; ++i) {
    const uint64_t d = schedule.next_delay(2000);
    REQUIRE(d >= 1800);
    REQUIRE(d <= 2200);
    low = std::min(low, d);
    high = std::max(high, d);
  }
  CHECK(low < 1850);  // jitter really happens, both ways
  CHECK(high > 2150);
  CHECK(schedule.first_delay(0) == 0);
  CHECK(schedule.next_delay(0) == 1);
}
