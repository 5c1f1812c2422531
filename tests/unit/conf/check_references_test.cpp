// Checks across sections: unique names and binds, pools that exist and pools that are used.
#include <doctest/doctest.h>

#include "conf_test_util.h"

using ringway::conf::test::errors_of;

TEST_CASE("a listener naming a missing pool is an error at the pool name") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:8080"
    pool: chat
  - name: admin
    bind: "0.0.0.0:8081"
    pool: chatt
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
)") == "t.yaml:7:11: error: listeners[1].pool: pool \"chatt\" is not defined\n");
}

TEST_CASE("a route naming a missing pool is an error at the route's pool") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:8080"
    pool: chat
    routes:
      - {path_prefix: /a, pool: chat}
      - path_prefix: /b
        pool: api
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
)") == "t.yaml:8:15: error: listeners[0].routes[1].pool: pool \"api\" is not defined\n");
}

TEST_CASE("a listener with neither pool nor routes is an error at the listener") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:8080"
  - name: other
    bind: "0.0.0.0:8081"
    routes: []
  - name: used
    bind: "0.0.0.0:8082"
    pool: chat
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
)") == "t.yaml:2:5: error: listeners[0]: missing required key \"pool\" (required unless "
       "\"routes\" is given)\n"
       "t.yaml:4:5: error: listeners[1]: missing required key \"pool\" (required unless "
       "\"routes\" is given)\n");
}

TEST_CASE("a pool that no listener or route reaches is an error at its name") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:8080"
    routes:
      - {host: "*.example.com", pool: routed}
    pool: chat
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
  - name: routed
    backends:
      - {name: b, address: "h:1"}
  - name: spare
    backends:
      - {name: b, address: "h:1"}
)") == "t.yaml:14:11: error: pools[2]: pool \"spare\" is not used by any listener\n");
}

TEST_CASE("duplicate listener names are an error at the second name") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:8080"
    pool: chat
  - name: public
    bind: "0.0.0.0:8081"
    pool: chat
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
)") == "t.yaml:5:11: error: listeners[1].name: duplicate listener name \"public\" (first at "
       "line 2)\n");
}

TEST_CASE("duplicate pool names are an error at the second name") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:8080"
    pool: chat
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
  - name: chat
    backends:
      - {name: c, address: "h:2"}
)") == "t.yaml:9:11: error: pools[1].name: duplicate pool name \"chat\" (first at line 6)\n");
}

TEST_CASE("duplicate backend names within a pool are an error, across pools they are fine") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:8080"
    pool: chat
    routes: [{path_prefix: /api, pool: api}]
pools:
  - name: chat
    backends:
      - name: node-1
        address: "10.0.0.1:9001"
      - name: node-1
        address: "10.0.0.2:9001"
  - name: api
    backends:
      - name: node-1
        address: "10.0.0.1:9002"
)") == "t.yaml:11:15: error: pools[0].backends[1].name: duplicate backend name \"node-1\" in pool "
       "\"chat\" (first at line 9)\n");
}

TEST_CASE("two listeners on the same bind are an error at the second bind") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "0.0.0.0:8080"
    pool: chat
  - name: second
    bind: "0.0.0.0:8080"
    pool: chat
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
)") == "t.yaml:6:11: error: listeners[1].bind: \"0.0.0.0:8080\" is already the bind of listener "
       "\"public\" (line 3)\n");
}

TEST_CASE("binds are compared as addresses, not as text") {
  CHECK(errors_of(R"(
listeners:
  - {name: a, bind: "[::1]:8080", pool: chat}
  - {name: b, bind: "[0:0::1]:8080", pool: chat}
  - {name: c, bind: "LocalHost:9000", pool: chat}
  - {name: d, bind: "localhost:9000", pool: chat}
  - {name: e, bind: "[::1]:8081", pool: chat}
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
)") == "t.yaml:3:21: error: listeners[1].bind: \"[0:0::1]:8080\" is already the bind of listener "
       "\"a\" (line 2)\n"
       "t.yaml:5:21: error: listeners[3].bind: \"localhost:9000\" is already the bind of listener "
       "\"c\" (line 4)\n");
}

TEST_CASE("admin.bind equal to a listener bind is an error at admin.bind") {
  CHECK(errors_of(R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
admin:
  bind: "127.0.0.1:8080"
)") == "t.yaml:10:9: error: admin.bind: \"127.0.0.1:8080\" is already the bind of listener "
       "\"public\" (line 3)\n");
}

TEST_CASE("the same port on different addresses is not a conflict") {
  CHECK(errors_of(R"(
listeners:
  - {name: a, bind: "127.0.0.1:8080", pool: chat}
  - {name: b, bind: "127.0.0.2:8080", pool: chat}
pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
admin:
  bind: "127.0.0.3:8080"
)") == "");
}
