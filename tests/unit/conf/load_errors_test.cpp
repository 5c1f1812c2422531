// Structure and type errors: each names file:line:column, the key, what was expected and what was
// found, and every error in a file is reported, in file order.
#include <doctest/doctest.h>

#include <array>
#include <string>
#include <utility>

#include "conf_test_util.h"

using ringway::conf::test::errors_of;

TEST_CASE("a YAML syntax error is one error at the parser's position") {
  CHECK(errors_of(R"(
listeners:
  - name: [public
pools: []
)") == "t.yaml:3:6: error: invalid YAML: end of sequence flow not found\n");
}

TEST_CASE("an empty file is an error") {
  CHECK(errors_of("") ==
        "t.yaml:1:1: error: the file is empty: a configuration needs at least \"listeners\" and "
        "\"pools\"\n");
}

TEST_CASE("a file with only comments is an empty file") {
  CHECK(errors_of("# nothing here\n\n") ==
        "t.yaml:1:1: error: the file is empty: a configuration needs at least \"listeners\" and "
        "\"pools\"\n");
}

TEST_CASE("a top level that is not a map is an error") {
  CHECK(errors_of(R"(
- listeners
)") == "t.yaml:1:1: error: the top level: expected a map, found a list\n");
}

TEST_CASE("a second YAML document is an error") {
  CHECK(errors_of(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
---
admin: {}
)") == "t.yaml:5:1: error: a second YAML document (after \"---\"): a configuration is one "
       "document\n");
}

TEST_CASE("listeners and pools are required") {
  CHECK(errors_of(R"(
limits:
  max_connections: 5
)") == "t.yaml:1:1: error: the top level: missing required key \"listeners\"\n"
       "t.yaml:1:1: error: the top level: missing required key \"pools\"\n");
}

TEST_CASE("listeners and pools must not be empty") {
  CHECK(errors_of(R"(
listeners: []
pools:
)") == "t.yaml:1:12: error: listeners: expected at least one listener\n"
       "t.yaml:2:1: error: pools: expected at least one pool\n");
}

TEST_CASE("listeners given as a map instead of a list is a type error") {
  CHECK(errors_of(R"(
listeners:
  name: public
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
)") == "t.yaml:2:3: error: listeners: expected a list, found a map\n"
       "t.yaml:4:12: error: pools[0]: pool \"p\" is not used by any listener\n");
}

TEST_CASE("an unknown top-level key is reported at the key with the closest known key") {
  CHECK(errors_of(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
timeout:
  connect: 1s
metrics: {}
)") == "t.yaml:5:1: error: unknown key \"timeout\" in the top level (did you mean \"timeouts\"?)\n"
       "t.yaml:7:1: error: unknown key \"metrics\" in the top level\n");
}

TEST_CASE("unknown keys are reported in every section") {
  CHECK(errors_of(R"(
listeners:
  - name: l
    bind: "127.0.0.1:80"
    pool: p
    listeners: 3
    routes:
      - {host: a.example, pool: p, prefix: /x}
pools:
  - name: p
    hashkey: path
    backends:
      - {name: b, address: "h:1", wieght: 2}
websocket:
  max_msg_size: 1KiB
limits:
  connections: 1
timeouts:
  read: 1s
shutdown:
  grace: 1s
admin:
  listen: "127.0.0.1:1"
)") == "t.yaml:5:5: error: unknown key \"listeners\" in listeners[0]\n"
       "t.yaml:7:36: error: unknown key \"prefix\" in listeners[0].routes[0]\n"
       "t.yaml:10:5: error: unknown key \"hashkey\" in pools[0] (did you mean \"hash_key\"?)\n"
       "t.yaml:12:35: error: unknown key \"wieght\" in pools[0].backends[0] (did you mean "
       "\"weight\"?)\n"
       "t.yaml:14:3: error: unknown key \"max_msg_size\" in websocket\n"
       "t.yaml:16:3: error: unknown key \"connections\" in limits\n"
       "t.yaml:18:3: error: unknown key \"read\" in timeouts\n"
       "t.yaml:20:3: error: unknown key \"grace\" in shutdown\n"
       "t.yaml:22:3: error: unknown key \"listen\" in admin\n");
}

TEST_CASE("a repeated key is an error at the repetition") {
  CHECK(errors_of(R"(
listeners:
  - name: l
    bind: "127.0.0.1:80"
    pool: p
    pool: q
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
)") == "t.yaml:5:5: error: duplicate key \"pool\" in listeners[0] (first at line 4)\n");
}

TEST_CASE("missing required keys are reported at the map that lacks them") {
  CHECK(errors_of(R"(
listeners:
  - pool: p
pools:
  - name: p
    backends:
      - weight: 2
)") == "t.yaml:2:5: error: listeners[0]: missing required key \"name\"\n"
       "t.yaml:2:5: error: listeners[0]: missing required key \"bind\"\n"
       "t.yaml:6:9: error: pools[0].backends[0]: missing required key \"name\"\n"
       "t.yaml:6:9: error: pools[0].backends[0]: missing required key \"address\"\n");
}

TEST_CASE("a string key given a map, a list or nothing names what was found") {
  CHECK(errors_of(R"(
listeners:
  - name: {first: l}
    bind: ["127.0.0.1:80"]
    pool:
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
)") == "t.yaml:2:11: error: listeners[0].name: expected a name made of letters, digits, '.', '_' "
       "and '-', found a map\n"
       "t.yaml:3:11: error: listeners[0].bind: expected host:port or [v6]:port with a port from 1 "
       "to 65535, found a list\n"
       "t.yaml:4:5: error: listeners[0].pool: expected a non-empty string, found nothing\n"
       "t.yaml:6:12: error: pools[0]: pool \"p\" is not used by any listener\n");
}

TEST_CASE("names with spaces or slashes are refused") {
  CHECK(errors_of(R"(
listeners:
  - {name: "my listener", bind: "127.0.0.1:80", pool: p}
pools:
  - name: p
    backends:
      - {name: "a/b", address: "h:1"}
)") == "t.yaml:2:12: error: listeners[0].name: expected a name made of letters, digits, '.', '_' "
       "and '-', found \"my listener\"\n"
       "t.yaml:6:16: error: pools[0].backends[0].name: expected a name made of letters, digits, "
       "'.', '_' and '-', found \"a/b\"\n");
}

namespace {

// A valid file whose first backend carries `backend_extra` and whose pool carries `pool_extra`.
std::string pool_errors(const std::string& pool_extra, const std::string& backend_extra) {
  return errors_of(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
pools:
  - name: p
)" + pool_extra + R"(
    backends:
      - name: b
        address: "h:1"
)" + backend_extra +
                   "\n");
}

}  // namespace

TEST_CASE("weight must be an integer from 1 to 1000") {
  const std::array<std::pair<const char*, const char*>, 8> cases = {{{"abc", R"("abc")"},
                                                                     {"0", R"("0")"},
                                                                     {"1001", R"("1001")"},
                                                                     {"-1", R"("-1")"},
                                                                     {"1.5", R"("1.5")"},
                                                                     {R"("")", R"("")"},
                                                                     {"[1]", "a list"},
                                                                     {"{}", "a map"}}};
  for (const auto& [bad_text, found_text] : cases) {
    const std::string bad = bad_text;
    const std::string found = found_text;
    CAPTURE(bad);
    CHECK(pool_errors("    hash_key: source_ip", std::string("        weight: ") + bad) ==
          std::string("t.yaml:9:17: error: pools[0].backends[0].weight: expected an integer "
                      "from 1 to 1000, found ") +
              found + "\n");
  }
  CHECK(pool_errors("    hash_key: source_ip", "        weight: 1000") == "");
}

TEST_CASE("connect_retries must be an integer from 0 to 100") {
  CHECK(pool_errors("    connect_retries: 101", "") ==
        "t.yaml:5:22: error: pools[0].connect_retries: expected an integer from 0 to 100, found "
        "\"101\"\n");
  CHECK(pool_errors("    connect_retries: -1", "") ==
        "t.yaml:5:22: error: pools[0].connect_retries: expected an integer from 0 to 100, found "
        "\"-1\"\n");
  CHECK(pool_errors("    connect_retries: 100", "") == "");
  CHECK(pool_errors("    connect_retries: 0", "") == "");
}

TEST_CASE("balance_factor must be a number greater than 1.0") {
  for (const char* bad : {"1.0", "1", "0", "0.5", "-2", "abc", "inf", "nan"}) {
    CAPTURE(bad);
    CHECK(pool_errors(std::string("    balance_factor: ") + bad, "") ==
          "t.yaml:5:21: error: pools[0].balance_factor: expected a number greater than 1.0, "
          "found \"" +
              std::string(bad) + "\"\n");
  }
  CHECK(pool_errors("    balance_factor: 1.01", "") == "");
  CHECK(pool_errors("    balance_factor: 2", "") == "");
}

TEST_CASE("hash_key must be one of the five forms") {
  for (const char* bad :
       {"ip", "header:", "cookie", "query:", "Source_IP", "header: X", "path:x"}) {
    CAPTURE(bad);
    CHECK(pool_errors(std::string("    hash_key: \"") + bad + "\"", "") ==
          "t.yaml:5:15: error: pools[0].hash_key: expected source_ip, path, header:NAME, "
          "cookie:NAME or query:NAME, found \"" +
              std::string(bad) + "\"\n");
  }
}

TEST_CASE("backup and drain must be true or false") {
  CHECK(pool_errors("", "        backup: yes\n        drain: 1") ==
        "t.yaml:9:17: error: pools[0].backends[0].backup: expected true or false, found \"yes\"\n"
        "t.yaml:10:16: error: pools[0].backends[0].drain: expected true or false, found \"1\"\n");
}

TEST_CASE("a backend address with a bad port is an error at the value") {
  CHECK(errors_of(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
pools:
  - name: p
    backends:
      - {name: a, address: "h:0"}
      - {name: b, address: "h:65536"}
      - {name: c, address: "::1:80"}
      - {name: d, address: ""}
)") == "t.yaml:6:28: error: pools[0].backends[0].address: expected host:port or [v6]:port with a "
       "port from 1 to 65535, found \"h:0\"\n"
       "t.yaml:7:28: error: pools[0].backends[1].address: expected host:port or [v6]:port with a "
       "port from 1 to 65535, found \"h:65536\"\n"
       "t.yaml:8:28: error: pools[0].backends[2].address: expected host:port or [v6]:port with a "
       "port from 1 to 65535, found \"::1:80\"\n"
       "t.yaml:9:28: error: pools[0].backends[3].address: expected host:port or [v6]:port with a "
       "port from 1 to 65535, found \"\"\n");
}

TEST_CASE("a pool with an empty or missing backends list is an error") {
  CHECK(errors_of(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
  - {name: m, bind: "127.0.0.1:81", pool: q}
pools:
  - name: p
    backends: []
  - name: q
)") == "t.yaml:6:15: error: pools[0].backends: expected at least one backend\n"
       "t.yaml:7:5: error: pools[1]: missing required key \"backends\"\n");
}

TEST_CASE("mode must be http or tcp") {
  CHECK(errors_of(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p, mode: udp}
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
)") == "t.yaml:2:52: error: listeners[0].mode: expected \"http\" or \"tcp\", found \"udp\"\n");
}

TEST_CASE("a route needs a pool, a valid host pattern and a path starting with a slash") {
  CHECK(errors_of(R"(
listeners:
  - name: l
    bind: "127.0.0.1:80"
    pool: p
    routes:
      - host: chat.example.com
      - host: "chat.*.com"
        pool: p
      - host: "*"
        pool: p
      - host: ""
        pool: p
      - path_prefix: ws
        pool: p
      - host: "a b"
        path_prefix: {}
        pool: p
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
)") == "t.yaml:6:9: error: listeners[0].routes[0]: missing required key \"pool\"\n"
       "t.yaml:7:15: error: listeners[0].routes[1].host: expected a host name such as "
       "\"chat.example.com\" or \"*.example.com\", found \"chat.*.com\"\n"
       "t.yaml:9:15: error: listeners[0].routes[2].host: expected a host name such as "
       "\"chat.example.com\" or \"*.example.com\", found \"*\"\n"
       "t.yaml:11:15: error: listeners[0].routes[3].host: expected a host name such as "
       "\"chat.example.com\" or \"*.example.com\", found \"\"\n"
       "t.yaml:13:22: error: listeners[0].routes[4].path_prefix: expected a path starting with "
       "\"/\", found \"ws\"\n"
       "t.yaml:15:15: error: listeners[0].routes[5].host: expected a host name such as "
       "\"chat.example.com\" or \"*.example.com\", found \"a b\"\n"
       "t.yaml:16:22: error: listeners[0].routes[5].path_prefix: expected a path starting with "
       "\"/\", found a map\n");
}

TEST_CASE("a list item that is not a map is a type error") {
  CHECK(errors_of(R"(
listeners:
  - public
pools:
  - {name: p, backends: ["h:1"]}
)") == "t.yaml:2:5: error: listeners[0]: expected a map, found \"public\"\n"
       "t.yaml:4:12: error: pools[0]: pool \"p\" is not used by any listener\n"
       "t.yaml:4:26: error: pools[0].backends[0]: expected a map, found \"h:1\"\n");
}

TEST_CASE("bad durations and sizes in the global sections are errors at the value") {
  CHECK(errors_of(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
websocket:
  max_message_size: 16M
limits:
  max_connections: -1
  max_header_size: 0
timeouts:
  connect: 5
  handshake: 0s
shutdown:
  delay: soon
  drain_timeout: 1.5s
admin:
  bind: "localhost"
)") == "t.yaml:6:21: error: websocket.max_message_size: expected a size above zero such as "
       "\"512\", \"64KiB\", \"16MiB\" or \"1GiB\", found \"16M\"\n"
       "t.yaml:8:20: error: limits.max_connections: expected an integer from 0 to "
       "18446744073709551615, found \"-1\"\n"
       "t.yaml:9:20: error: limits.max_header_size: expected a size above zero such as \"512\", "
       "\"64KiB\", \"16MiB\" or \"1GiB\", found \"0\"\n"
       "t.yaml:11:12: error: timeouts.connect: expected a duration above zero such as \"250ms\", "
       "\"5s\", \"2m\" or \"1h\", found \"5\"\n"
       "t.yaml:12:14: error: timeouts.handshake: expected a duration above zero such as "
       "\"250ms\", \"5s\", \"2m\" or \"1h\", found \"0s\"\n"
       "t.yaml:14:10: error: shutdown.delay: expected a duration such as \"250ms\", \"5s\", "
       "\"2m\", \"1h\" or \"0\", found \"soon\"\n"
       "t.yaml:15:18: error: shutdown.drain_timeout: expected a duration such as \"250ms\", "
       "\"5s\", \"2m\", \"1h\" or \"0\", found \"1.5s\"\n"
       "t.yaml:17:9: error: admin.bind: expected host:port or [v6]:port with a port from 1 to "
       "65535, found \"localhost\"\n");
}

TEST_CASE("a section given a scalar is a type error") {
  CHECK(errors_of(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
timeouts: 5s
)") == "t.yaml:5:11: error: timeouts: expected a map, found \"5s\"\n");
}

TEST_CASE("every error in one file is reported, in file order") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:80800"
    pool: chatt
    tls: {}
  - name: public
    bind: "0.0.0.0:8081"
pools:
  - name: chat
    hash_key: ip
    backends:
      - name: chat-1
        address: "127.0.0.1:9001"
        weight: 0
      - name: chat-1
        address: "127.0.0.1:9002"
timeouts:
  connect: forever
)") == "t.yaml:3:11: error: listeners[0].bind: expected host:port or [v6]:port with a port from 1 "
       "to 65535, found \"0.0.0.0:80800\"\n"
       "t.yaml:4:11: error: listeners[0].pool: pool \"chatt\" is not defined\n"
       "t.yaml:5:10: error: listeners[0].tls: missing required key \"certificates\"\n"
       "t.yaml:6:5: error: listeners[1]: missing required key \"pool\" (required unless "
       "\"routes\" is given)\n"
       "t.yaml:6:11: error: listeners[1].name: duplicate listener name \"public\" (first at line "
       "2)\n"
       "t.yaml:9:11: error: pools[0]: pool \"chat\" is not used by any listener\n"
       "t.yaml:10:15: error: pools[0].hash_key: expected source_ip, path, header:NAME, "
       "cookie:NAME or query:NAME, found \"ip\"\n"
       "t.yaml:14:17: error: pools[0].backends[0].weight: expected an integer from 1 to 1000, "
       "found \"0\"\n"
       "t.yaml:15:15: error: pools[0].backends[1].name: duplicate backend name \"chat-1\" in pool "
       "\"chat\" (first at line 12)\n"
       "t.yaml:18:12: error: timeouts.connect: expected a duration above zero such as \"250ms\", "
       "\"5s\", \"2m\" or \"1h\", found \"forever\"\n");
}

TEST_CASE("a file starting with a comma is an error, not a hang (yaml-cpp 0.7.0 LoadAll loops on it)") {
  const auto result = ringway::conf::load_config_text(",\nlisteners: []\n", "t.yaml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string().find("t.yaml:1:1: error: invalid YAML") == 0);
}

TEST_CASE("a document end marker followed by content is a second document") {
  const auto result = ringway::conf::load_config_text("a: 1\n...\nb: 2\n", "t.yaml");
  REQUIRE_FALSE(result.errors.empty());
  CHECK(result.errors[0].to_string() ==
        "t.yaml:3:1: error: a second YAML document (after \"---\"): a configuration is one document");
}

TEST_CASE("line breaks and control characters in a quoted value never split an error line") {
  const auto result = ringway::conf::load_config_text(
      "listeners:\n  - name: l\n    bind: \"127.0.0.1:80\"\n    pool: p\n"
      "pools:\n  - name: p\n    hash_key: \"header:\\nX-Injected: 1\\r\\x01\"\n"
      "    backends: [{name: b, address: \"h:1\"}]\n",
      "t.yaml");
  REQUIRE_FALSE(result.errors.empty());
  for (const auto& e : result.errors) {
    const std::string line = e.to_string();
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
  }
  CHECK(result.errors[0].to_string().find(R"(found "header:\nX-Injected: 1\r\x01")") != std::string::npos);
}
