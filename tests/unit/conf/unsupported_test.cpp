// Keys that the contract describes but ringway does not implement yet are refused with "not
// supported yet", never silently ignored; their "off" values are accepted.
#include <doctest/doctest.h>

#include <string>

#include "conf_test_util.h"

using ringway::conf::test::errors_of;

namespace {

// A valid file with `listener_extra` added to the listener, `pool_extra` to the pool and `tail`
// appended at the end. The listener's keys start on line 3, the pool's on line 7.
std::string errors_with(const std::string& listener_extra, const std::string& pool_extra,
                        const std::string& tail = "") {
  return errors_of(R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
)" + listener_extra +
                   R"(
pools:
  - name: chat
)" + pool_extra + R"(
    backends:
      - {name: b, address: "h:1"}
)" + tail);
}

}  // namespace

TEST_CASE("listeners[].mode tcp and mode http are accepted") {
  CHECK(errors_with("    mode: tcp", "") == "");
  CHECK(errors_with("    mode: http", "") == "");
  CHECK(errors_with("    mode: udp", "") ==
        "t.yaml:5:11: error: listeners[0].mode: expected \"http\" or \"tcp\", found \"udp\"\n");
}

TEST_CASE("listeners[].proxy_protocol true and false are accepted") {
  CHECK(errors_with("    proxy_protocol: true", "") == "");
  CHECK(errors_with("    proxy_protocol: false", "") == "");
  CHECK(errors_with("    proxy_protocol: maybe", "") ==
        "t.yaml:5:21: error: listeners[0].proxy_protocol: expected true or false, found "
        "\"maybe\"\n");
}

TEST_CASE("pools[].health_check and pools[].passive are accepted now that health checks exist") {
  CHECK(errors_with("", R"(    health_check:
      type: websocket
      path: /health)") == "");
  CHECK(errors_with("", "    passive: {failures: 3, eject_for: 10s}") == "");
}

TEST_CASE("pools[].drain_timeout is accepted now that draining exists") {
  CHECK(errors_with("", "    drain_timeout: 30s") == "");
}

TEST_CASE("websocket keepalive, idle timeout and rate limit keys are accepted") {
  CHECK(errors_with("", "", "websocket:\n  ping_interval: 30s\n  idle_timeout: 5m\n") == "");
  CHECK(errors_with("", "", "websocket:\n  messages_per_second: 100\n  burst: 20\n") == "");
  CHECK(errors_with("", "", "limits:\n  max_connections_per_ip: 50\n") == "");
}

TEST_CASE("a malformed websocket value is a type error") {
  CHECK(errors_with("", "", "websocket:\n  ping_interval: often\n  burst: -3\n") ==
        "t.yaml:12:18: error: websocket.ping_interval: expected a duration such as \"250ms\", "
        "\"5s\", \"2m\", \"1h\" or \"0\", found \"often\"\n"
        "t.yaml:13:10: error: websocket.burst: expected an integer from 0 to 4294967295, found "
        "\"-3\"\n");
}

TEST_CASE("the keys once refused until implemented are accepted together") {
  CHECK(errors_with("    proxy_protocol: true",
                    "    drain_timeout: 1s\n    health_check: {}\n    passive: {}",
                    "websocket:\n  ping_interval: 1s\n") == "");
}

TEST_CASE("pools[].send_proxy_protocol is v1 or v2") {
  CHECK(errors_with("", "    send_proxy_protocol: v1") == "");
  CHECK(errors_with("", "    send_proxy_protocol: v2") == "");
  CHECK(errors_with("", "    send_proxy_protocol: v3") ==
        "t.yaml:8:26: error: pools[0].send_proxy_protocol: expected \"v1\" or \"v2\", found \"v3\"\n");
}
