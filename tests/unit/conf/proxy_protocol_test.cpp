// listeners[].proxy_protocol and pools[].send_proxy_protocol as loaded.
#include <doctest/doctest.h>

#include "conf_test_util.h"

using namespace ringway::conf;
using ringway::conf::test::load_ok;

TEST_CASE("proxy_protocol and send_proxy_protocol are off unless set") {
  const Config config = load_ok(R"(
listeners:
  - {name: plain, bind: "127.0.0.1:8080", pool: a}
  - {name: behind-nlb, bind: "127.0.0.1:8081", pool: b, proxy_protocol: true}
  - {name: other, bind: "127.0.0.1:8082", pool: c, proxy_protocol: false}
pools:
  - name: a
    backends: [{name: x, address: "h:1"}]
  - name: b
    send_proxy_protocol: v1
    backends: [{name: x, address: "h:1"}]
  - name: c
    send_proxy_protocol: v2
    backends: [{name: x, address: "h:1"}]
)");
  CHECK_FALSE(config.listeners[0].proxy_protocol);
  CHECK(config.listeners[1].proxy_protocol);
  CHECK_FALSE(config.listeners[2].proxy_protocol);
  CHECK(config.pools[0].send_proxy_protocol == SendProxy::Off);
  CHECK(config.pools[1].send_proxy_protocol == SendProxy::V1);
  CHECK(config.pools[2].send_proxy_protocol == SendProxy::V2);
}
