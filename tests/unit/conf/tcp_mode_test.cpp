// listeners[].mode: tcp — a plain L4 listener: it needs its pool and takes no routes (routes need
// HTTP), and everything else (tls, limits, the pool's settings) reads as in http mode.
#include <doctest/doctest.h>

#include "conf_test_util.h"

using ringway::conf::ListenerMode;
using ringway::conf::test::errors_of;
using ringway::conf::test::load_ok;

TEST_CASE("a tcp listener with a pool loads as mode tcp") {
  const auto config = load_ok(R"(
listeners:
  - {name: l4, bind: "127.0.0.1:7000", mode: tcp, pool: p}
  - {name: web, bind: "127.0.0.1:8080", pool: p}
pools:
  - {name: p, hash_key: "header:X-User", backends: [{name: b, address: "h:1"}]}
)");
  REQUIRE(config.listeners.size() == 2);
  CHECK(config.listeners[0].mode == ListenerMode::Tcp);
  CHECK(config.listeners[1].mode == ListenerMode::Http);
}

TEST_CASE("routes on a tcp listener are an error at the routes value") {
  CHECK(errors_of(R"(
listeners:
  - name: l4
    bind: "127.0.0.1:7000"
    mode: tcp
    pool: p
    routes:
      - {path_prefix: /ws, pool: p}
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
)") == "t.yaml:7:7: error: listeners[0].routes: routes need HTTP; a \"tcp\" listener sends every "
       "connection to its \"pool\"\n");
}

TEST_CASE("a tcp listener without a pool is an error even with routes") {
  CHECK(errors_of(R"(
listeners:
  - name: l4
    bind: "127.0.0.1:7000"
    mode: tcp
    routes:
      - {path_prefix: /ws, pool: p}
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
)") == "t.yaml:2:5: error: listeners[0]: missing required key \"pool\" (a \"tcp\" listener has no "
       "routes)\n"
       "t.yaml:6:7: error: listeners[0].routes: routes need HTTP; a \"tcp\" listener sends every "
       "connection to its \"pool\"\n");
}

TEST_CASE("an empty routes list on a tcp listener is no route at all") {
  CHECK(errors_of(R"(
listeners:
  - {name: l4, bind: "127.0.0.1:7000", mode: tcp, pool: p, routes: []}
pools:
  - {name: p, backends: [{name: b, address: "h:1"}]}
)") == "");
}
