// pools[].affinity_cookie: defaults, every key, and each bad value reported at its line:col.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "conf/config.h"
#include "conf_test_util.h"

using namespace ringway::conf;
using ringway::conf::test::errors_of;
using ringway::conf::test::load_ok;

namespace {

// A valid file whose pool has `affinity_cookie: VALUE` on line 8 (the value at column 22).
std::string with_cookie(const std::string& value) {
  return R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
pools:
  - name: chat
    backends: [{name: b1, address: "127.0.0.1:9001"}]
    affinity_cookie: )" + value + "\n";
}

}  // namespace

TEST_CASE("no affinity_cookie: the hash alone decides") {
  CHECK_FALSE(load_ok(R"(
listeners:
  - {name: public, bind: "127.0.0.1:8080", pool: chat}
pools:
  - {name: chat, backends: [{name: b1, address: "127.0.0.1:9001"}]}
)").pools[0].affinity_cookie.has_value());
}

TEST_CASE("an empty affinity_cookie takes every default: RINGWAY_AFFINITY, path /, a session cookie, a random key") {
  for (const char* empty : {"{}", ""}) {
    const Config config = load_ok(with_cookie(empty));
    REQUIRE(config.pools[0].affinity_cookie.has_value());
    const AffinityCookie& c = *config.pools[0].affinity_cookie;
    CHECK(c.name == "RINGWAY_AFFINITY");
    CHECK(c.path == "/");
    CHECK(c.max_age == Duration(0));
    CHECK(c.secret.empty());
    CHECK(c.same_site == "Lax");
  }
}

TEST_CASE("affinity_cookie with every key") {
  const Config config =
      load_ok(with_cookie(R"({name: SRV, path: /socket.io/, max_age: 1h, secret: "0123456789abcdef0123", same_site: none})"));
  const AffinityCookie& c = *config.pools[0].affinity_cookie;
  CHECK(c.name == "SRV");
  CHECK(c.path == "/socket.io/");
  CHECK(c.max_age == Duration(3600 * 1000));
  CHECK(c.secret == "0123456789abcdef0123");
  CHECK(c.same_site == "None");
  CHECK(load_ok(with_cookie("{same_site: strict}")).pools[0].affinity_cookie->same_site == "Strict");
  CHECK(load_ok(with_cookie("{max_age: 0}")).pools[0].affinity_cookie->max_age == Duration(0));
}

TEST_CASE("affinity_cookie: a bad name, path, max_age or secret is an error at its value") {
  CHECK(errors_of(with_cookie("{name: \"a b\"}")) ==
        "t.yaml:8:29: error: pools[0].affinity_cookie.name: expected a cookie name (letters, digits and "
        "!#$%&'*+-.^_`|~), found \"a b\"\n");
  CHECK(errors_of(with_cookie("{path: chat}")) ==
        "t.yaml:8:29: error: pools[0].affinity_cookie.path: expected a path that starts with \"/\" (no "
        "spaces, no ';'), found \"chat\"\n");
  CHECK(errors_of(with_cookie("{path: \"/a;b\"}")) ==
        "t.yaml:8:29: error: pools[0].affinity_cookie.path: expected a path that starts with \"/\" (no "
        "spaces, no ';'), found \"/a;b\"\n");
  CHECK(errors_of(with_cookie("{max_age: soon}")) ==
        "t.yaml:8:32: error: pools[0].affinity_cookie.max_age: expected a duration such as \"250ms\", "
        "\"5s\", \"2m\", \"1h\" or \"0\", found \"soon\"\n");
  CHECK(errors_of(with_cookie("{max_age: 1500ms}")) ==
        "t.yaml:8:32: error: pools[0].affinity_cookie.max_age: Max-Age counts whole seconds, found "
        "\"1500ms\"\n");
  CHECK(errors_of(with_cookie("{secret: short}")) ==
        "t.yaml:8:31: error: pools[0].affinity_cookie.secret: the secret must be at least 16 bytes, found 5\n");
  CHECK(errors_of(with_cookie("{same_site: Lax}")) ==
        "t.yaml:8:34: error: pools[0].affinity_cookie.same_site: expected lax, strict or none, found \"Lax\"\n");
  CHECK(errors_of(with_cookie("{colour: blue}")).find("unknown key \"colour\"") != std::string::npos);
  CHECK(errors_of(with_cookie("[1]")) ==
        "t.yaml:8:22: error: pools[0].affinity_cookie: expected a map, found a list\n");
}

TEST_CASE("affinity_cookie.secret_file is read (trailing newline dropped) and checked") {
  char path[] = "/tmp/ringway-affinity-secret-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  FILE* f = fdopen(fd, "w");
  std::fputs("a-shared-secret-of-some-length\n", f);
  std::fclose(f);
  const Config config = load_ok(with_cookie(std::string("{secret_file: ") + path + "}"));
  CHECK(config.pools[0].affinity_cookie->secret == "a-shared-secret-of-some-length");
  CHECK(config.pools[0].affinity_cookie->secret_file == path);

  f = std::fopen(path, "w");
  std::fputs("short\n", f);
  std::fclose(f);
  CHECK(errors_of(with_cookie(std::string("{secret_file: ") + path + "}")) ==
        std::string("t.yaml:8:36: error: pools[0].affinity_cookie.secret_file: the secret in \"") + path +
            "\" must be at least 16 bytes, found 5\n");
  std::remove(path);
  CHECK(errors_of(with_cookie(std::string("{secret_file: ") + path + "}")) ==
        std::string("t.yaml:8:36: error: pools[0].affinity_cookie.secret_file: cannot read \"") + path +
            "\": No such file or directory\n");
  CHECK(errors_of(with_cookie("{secret: \"0123456789abcdef\", secret_file: /x}")) ==
        "t.yaml:8:51: error: pools[0].affinity_cookie.secret_file: give either secret or secret_file, not both\n");
}
