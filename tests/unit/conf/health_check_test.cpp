// pools[].health_check and pools[].passive: defaults, every field as written, and each invalid
// value reported at its line and column.
#include <doctest/doctest.h>

#include <string>

#include "conf/config.h"
#include "conf_test_util.h"

using namespace ringway::conf;
using ringway::conf::test::errors_of;
using ringway::conf::test::load_ok;

namespace {

// A valid file with `pool_extra` added to the pool; its first line is line 7 of the file.
std::string with_pool(const std::string& pool_extra) {
  return R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
pools:
  - name: chat
)" + pool_extra + R"(
    backends:
      - {name: b, address: "h:1"}
)";
}

// Errors for a health_check block whose keys start on line 8 (column 7).
std::string check_errors(const std::string& keys) {
  return errors_of(with_pool("    health_check:\n" + keys));
}

}  // namespace

TEST_CASE("a pool without health_check or passive has neither (backends assumed up)") {
  const Config config = load_ok(with_pool("    connect_retries: 1"));
  CHECK_FALSE(config.pools[0].health_check.has_value());
  CHECK_FALSE(config.pools[0].passive.has_value());
}

TEST_CASE("an empty health_check is a tcp check with the contract's defaults") {
  for (const char* text : {"    health_check: {}", "    health_check:"}) {
    CAPTURE(text);
    const Config config = load_ok(with_pool(text));
    REQUIRE(config.pools[0].health_check.has_value());
    const HealthCheck& hc = *config.pools[0].health_check;
    CHECK(hc.type == CheckType::Tcp);
    CHECK(hc.path == "/");
    CHECK(hc.interval == Duration(2000));
    CHECK(hc.timeout == Duration(1000));
    CHECK(hc.rise == 2);
    CHECK(hc.fall == 3);
  }
}

TEST_CASE("health_check keeps every field as written") {
  const Config config = load_ok(with_pool(R"(    health_check:
      type: websocket
      path: /health?deep=1
      interval: 500ms
      timeout: 250ms
      rise: 1
      fall: 5)"));
  const HealthCheck& hc = *config.pools[0].health_check;
  CHECK(hc.type == CheckType::WebSocket);
  CHECK(hc.path == "/health?deep=1");
  CHECK(hc.interval == Duration(500));
  CHECK(hc.timeout == Duration(250));
  CHECK(hc.rise == 1);
  CHECK(hc.fall == 5);
  CHECK(load_ok(with_pool("    health_check: {type: http, path: /ready}")).pools[0].health_check->type ==
        CheckType::Http);
}

TEST_CASE("passive keeps its fields, with defaults for the missing ones") {
  const Config config = load_ok(with_pool("    passive: {failures: 1, eject_for: 250ms}"));
  REQUIRE(config.pools[0].passive.has_value());
  CHECK(config.pools[0].passive->failures == 1);
  CHECK(config.pools[0].passive->eject_for == Duration(250));
  const Config defaults = load_ok(with_pool("    passive: {}"));
  CHECK(defaults.pools[0].passive->failures == 3);
  CHECK(defaults.pools[0].passive->eject_for == Duration(10000));
}

TEST_CASE("an unknown health_check type is reported at the value") {
  CHECK(check_errors("      type: icmp") ==
        "t.yaml:8:13: error: pools[0].health_check.type: expected tcp, http or websocket, found "
        "\"icmp\"\n");
}

TEST_CASE("a health_check path must start with a slash and hold no spaces") {
  const std::string expected =
      "error: pools[0].health_check.path: expected a path that starts with \"/\" (no spaces), ";
  CHECK(check_errors("      type: http\n      path: health") ==
        "t.yaml:9:13: " + expected + "found \"health\"\n");
  CHECK(check_errors("      type: websocket\n      path: \"/a b\"") ==
        "t.yaml:9:13: " + expected + "found \"/a b\"\n");
}

TEST_CASE("a path on a tcp check is refused: nothing would be requested") {
  CHECK(check_errors("      path: /health") ==
        "t.yaml:8:7: error: pools[0].health_check.path: a tcp check sends no request (path is for "
        "http and websocket)\n");
}

TEST_CASE("a health_check timeout must be shorter than its interval") {
  CHECK(check_errors("      interval: 1s\n      timeout: 1s") ==
        "t.yaml:9:16: error: pools[0].health_check.timeout: must be shorter than the interval "
        "(timeout 1s, interval 1s)\n");
  // Only the interval written: the default timeout (1s) is too long for it; the interval is shown.
  CHECK(check_errors("      interval: 500ms") ==
        "t.yaml:8:17: error: pools[0].health_check.timeout: must be shorter than the interval "
        "(timeout 1s, interval 500ms)\n");
  CHECK(check_errors("      interval: 500ms\n      timeout: 499ms") == "");
}

TEST_CASE("zero or malformed health_check durations are type errors, without a second complaint") {
  CHECK(check_errors("      interval: 0\n      timeout: soon") ==
        "t.yaml:8:17: error: pools[0].health_check.interval: expected a duration above zero such as "
        "\"250ms\", \"5s\", \"2m\" or \"1h\", found \"0\"\n"
        "t.yaml:9:16: error: pools[0].health_check.timeout: expected a duration above zero such as "
        "\"250ms\", \"5s\", \"2m\" or \"1h\", found \"soon\"\n");
}

TEST_CASE("rise and fall are at least 1") {
  CHECK(check_errors("      rise: 0\n      fall: 0") ==
        "t.yaml:8:13: error: pools[0].health_check.rise: expected an integer from 1 to 100, found "
        "\"0\"\n"
        "t.yaml:9:13: error: pools[0].health_check.fall: expected an integer from 1 to 100, found "
        "\"0\"\n");
}

TEST_CASE("unknown keys in health_check and passive are reported with a hint") {
  CHECK(check_errors("      intervall: 1s") ==
        "t.yaml:8:7: error: unknown key \"intervall\" in pools[0].health_check (did you mean "
        "\"interval\"?)\n");
  CHECK(errors_of(with_pool("    passive: {failure: 3}")).find("did you mean \"failures\"") !=
        std::string::npos);
}

TEST_CASE("passive failures and eject_for must be above zero") {
  CHECK(errors_of(with_pool("    passive:\n      failures: 0\n      eject_for: 0s")) ==
        "t.yaml:8:17: error: pools[0].passive.failures: expected an integer from 1 to 1000, found "
        "\"0\"\n"
        "t.yaml:9:18: error: pools[0].passive.eject_for: expected a duration above zero such as "
        "\"250ms\", \"5s\", \"2m\" or \"1h\", found \"0s\"\n");
}

TEST_CASE("health_check and passive must be maps") {
  CHECK(errors_of(with_pool("    health_check: websocket\n    passive: [3]")) ==
        "t.yaml:7:19: error: pools[0].health_check: expected a map, found \"websocket\"\n"
        "t.yaml:8:14: error: pools[0].passive: expected a map, found a list\n");
}
