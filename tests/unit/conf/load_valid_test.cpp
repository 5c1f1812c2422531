// Valid files load into Config with every field as written, and defaults where keys are absent.
#include <doctest/doctest.h>

#include "conf/config.h"
#include "conf_test_util.h"

using namespace ringway::conf;
using ringway::conf::test::errors_of;
using ringway::conf::test::load_ok;
using ringway::lb::HashKeyKind;
using ringway::lb::HashKeySpec;

namespace {

// The contract's example, without the keys that are refused until implemented (tls, mode: tcp,
// proxy_protocol: true, non-zero websocket keepalive and rate limits; health_check and passive
// have their own tests in health_check_test.cpp), plus a second listener and pool so that routes and IPv6 are covered.
constexpr const char* kFullConfig = R"(
listeners:
  - name: public                  # required, unique
    bind: "0.0.0.0:8080"          # host:port or [v6]:port
    mode: http
    pool: chat
    routes:
      - host: "Chat.Example.com"
        path_prefix: "/ws"
        pool: chat
      - host: "*.example.com"
        pool: api
    proxy_protocol: false
  - name: internal
    bind: "[::1]:8081"
    routes:
      - path_prefix: /api
        pool: api

pools:
  - name: chat
    hash_key: source_ip
    balance_factor: 1.25
    connect_retries: 2
    drain_timeout: 45s
    backends:
      - name: chat-1
        address: "127.0.0.1:9001"
        weight: 1
        backup: false
        drain: false
      - name: chat-2
        address: "chat-2.internal:9002"
        weight: 1000
        backup: true
        drain: true
  - name: api
    hash_key: "header:X-User"
    connect_retries: 0
    backends:
      - name: api-1
        address: "[::1]:9100"

websocket:
  max_message_size: 1MiB
  ping_interval: 0s
  idle_timeout: 0
  messages_per_second: 0
  burst: 0

limits:
  max_connections: 10000
  max_header_size: 32KiB

timeouts:
  connect: 250ms
  handshake: 2m
  response: 90s

shutdown:
  delay: 1s
  drain_timeout: 1h

admin:
  bind: "127.0.0.1:9901"
)";

constexpr const char* kMinimalConfig = R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
pools:
  - name: chat
    backends:
      - name: chat-1
        address: "127.0.0.1:9001"
)";

}  // namespace

TEST_CASE("the contract example loads with no errors") { CHECK(errors_of(kFullConfig) == ""); }

TEST_CASE("the contract example fills every listener field") {
  const Config config = load_ok(kFullConfig);
  CHECK(config.path == "t.yaml");
  REQUIRE(config.listeners.size() == 2);

  const Listener& pub = config.listeners[0];
  CHECK(pub.name == "public");
  CHECK(pub.bind.text == "0.0.0.0:8080");
  CHECK(pub.bind.host == "0.0.0.0");
  CHECK(pub.bind.port == 8080);
  CHECK(pub.mode == ListenerMode::Http);
  CHECK(pub.pool == "chat");
  REQUIRE(pub.routes.size() == 2);
  CHECK(pub.routes[0].host == "chat.example.com");  // lowercased: hosts match case-insensitively
  CHECK(pub.routes[0].path_prefix == "/ws");
  CHECK(pub.routes[0].pool == "chat");
  CHECK(pub.routes[1].host == "*.example.com");
  CHECK(pub.routes[1].path_prefix == "");
  CHECK(pub.routes[1].pool == "api");

  const Listener& internal = config.listeners[1];
  CHECK(internal.name == "internal");
  CHECK(internal.bind.host == "::1");
  CHECK(internal.bind.port == 8081);
  CHECK(internal.pool == "");
  REQUIRE(internal.routes.size() == 1);
  CHECK(internal.routes[0].host == "");
  CHECK(internal.routes[0].path_prefix == "/api");
  CHECK(internal.routes[0].pool == "api");
}

TEST_CASE("the contract example fills every pool and backend field") {
  const Config config = load_ok(kFullConfig);
  REQUIRE(config.pools.size() == 2);

  const Pool& chat = config.pools[0];
  CHECK(chat.name == "chat");
  CHECK(chat.hash_key_text == "source_ip");
  CHECK(chat.hash_key == HashKeySpec{HashKeyKind::SourceIp, ""});
  CHECK(chat.balance_factor == doctest::Approx(1.25));
  CHECK(chat.connect_retries == 2);
  CHECK(chat.drain_timeout == Duration{45000});
  REQUIRE(chat.backends.size() == 2);
  CHECK(chat.backends[0].name == "chat-1");
  CHECK(chat.backends[0].address.text == "127.0.0.1:9001");
  CHECK(chat.backends[0].address.host == "127.0.0.1");
  CHECK(chat.backends[0].address.port == 9001);
  CHECK(chat.backends[0].weight == 1);
  CHECK_FALSE(chat.backends[0].backup);
  CHECK_FALSE(chat.backends[0].drain);
  CHECK(chat.backends[1].name == "chat-2");
  CHECK(chat.backends[1].address.host == "chat-2.internal");
  CHECK(chat.backends[1].address.port == 9002);
  CHECK(chat.backends[1].weight == 1000);
  CHECK(chat.backends[1].backup);
  CHECK(chat.backends[1].drain);

  const Pool& api = config.pools[1];
  CHECK(api.name == "api");
  CHECK(api.hash_key_text == "header:X-User");
  CHECK(api.hash_key == HashKeySpec{HashKeyKind::Header, "X-User"});
  CHECK(api.balance_factor == 0.0);
  CHECK(api.connect_retries == 0);
  REQUIRE(api.backends.size() == 1);
  CHECK(api.backends[0].address.host == "::1");
  CHECK(api.backends[0].address.port == 9100);
}

TEST_CASE("the contract example fills the global sections") {
  const Config config = load_ok(kFullConfig);
  CHECK(config.websocket.max_message_size == 1024U * 1024);
  CHECK(config.websocket.ping_interval == Duration{0});
  CHECK(config.websocket.idle_timeout == Duration{0});
  CHECK(config.websocket.messages_per_second == 0);
  CHECK(config.websocket.burst == 0);
  CHECK(config.limits.max_connections == 10000);
  CHECK(config.limits.max_header_size == 32U * 1024);
  CHECK(config.timeouts.connect == Duration{250});
  CHECK(config.timeouts.handshake == Duration{120000});
  CHECK(config.timeouts.response == Duration{90000});
  CHECK(config.shutdown.delay == Duration{1000});
  CHECK(config.shutdown.drain_timeout == Duration{3600000});
  REQUIRE(config.admin.bind.has_value());
  CHECK(config.admin.bind->host == "127.0.0.1");
  CHECK(config.admin.bind->port == 9901);
}

TEST_CASE("absent optional keys and sections take their documented defaults") {
  const Config config = load_ok(kMinimalConfig);
  const Listener& listener = config.listeners.at(0);
  CHECK(listener.mode == ListenerMode::Http);
  CHECK(listener.routes.empty());
  const Pool& pool = config.pools.at(0);
  CHECK(pool.hash_key_text == "source_ip");
  CHECK(pool.hash_key == HashKeySpec{HashKeyKind::SourceIp, ""});
  CHECK(pool.balance_factor == 0.0);
  CHECK(pool.connect_retries == 2);
  const Backend& backend = pool.backends.at(0);
  CHECK(backend.weight == 1);
  CHECK_FALSE(backend.backup);
  CHECK_FALSE(backend.drain);
  CHECK(config.websocket.max_message_size == 16U * 1024 * 1024);
  CHECK(config.websocket.ping_interval == Duration{0});
  CHECK(config.limits.max_connections == 0);
  CHECK(config.limits.max_header_size == 16U * 1024);
  CHECK(config.timeouts.connect == Duration{5000});
  CHECK(config.timeouts.handshake == Duration{10000});
  CHECK(config.timeouts.response == Duration{60000});
  CHECK(config.shutdown.delay == Duration{0});
  CHECK(config.shutdown.drain_timeout == Duration{30000});
  CHECK_FALSE(config.admin.bind.has_value());
}

TEST_CASE("every hash_key form is accepted") {
  const auto pool_with = [](const std::string& hash_key) {
    return load_ok(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
pools:
  - name: p
    hash_key: ")" + hash_key +
                   R"("
    backends: [{name: b, address: "127.0.0.1:81"}]
)")
        .pools.at(0);
  };
  CHECK(pool_with("source_ip").hash_key == HashKeySpec{HashKeyKind::SourceIp, ""});
  CHECK(pool_with("path").hash_key == HashKeySpec{HashKeyKind::Path, ""});
  CHECK(pool_with("header:X-User-Id").hash_key == HashKeySpec{HashKeyKind::Header, "X-User-Id"});
  CHECK(pool_with("cookie:session").hash_key == HashKeySpec{HashKeyKind::Cookie, "session"});
  CHECK(pool_with("query:room").hash_key == HashKeySpec{HashKeyKind::Query, "room"});
  CHECK(pool_with("query:room").hash_key_text == "query:room");
}

TEST_CASE("empty optional sections are accepted as if absent") {
  const Config config = load_ok(std::string(kMinimalConfig) + "websocket:\nlimits: {}\nadmin:\n");
  CHECK(config.websocket.max_message_size == 16U * 1024 * 1024);
  CHECK_FALSE(config.admin.bind.has_value());
}

TEST_CASE("a listener with routes only needs no default pool") {
  const Config config = load_ok(R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    routes:
      - host: chat.example.com
        pool: chat
pools:
  - name: chat
    backends:
      - name: chat-1
        address: "127.0.0.1:9001"
)");
  CHECK(config.listeners.at(0).pool == "");
  CHECK(config.listeners.at(0).routes.at(0).pool == "chat");
}

TEST_CASE("find_pool finds pools by name and returns null for unknown names") {
  const Config config = load_ok(kFullConfig);
  REQUIRE(config.find_pool("api") != nullptr);
  CHECK(config.find_pool("api") == &config.pools.at(1));
  CHECK(config.find_pool("chat") == &config.pools.at(0));
  CHECK(config.find_pool("") == nullptr);
  CHECK(config.find_pool("Chat") == nullptr);
}

TEST_CASE("booleans accept only true and false spellings") {
  const Config config = load_ok(R"(
listeners:
  - {name: l, bind: "127.0.0.1:80", pool: p}
pools:
  - name: p
    backends:
      - {name: a, address: "h:1", backup: True, drain: FALSE}
)");
  CHECK(config.pools.at(0).backends.at(0).backup);
  CHECK_FALSE(config.pools.at(0).backends.at(0).drain);
}
