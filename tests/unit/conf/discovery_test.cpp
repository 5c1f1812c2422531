// backends[].discover and backends[].interval (DNS discovery): defaults, validation at line:col, and
// the pure expansion of DNS answers into backends (conf/discovery.h).
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/discovery.h"
#include "conf_test_util.h"

using namespace ringway::conf;
using ringway::conf::test::errors_of;
using ringway::conf::test::load_ok;

namespace {

// A valid file whose second backend is `{name: d, address: "chat.svc:8080", EXTRA}` on line 9.
std::string with_backend(const std::string& extra) {
  return R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
pools:
  - name: chat
    backends:
      - {name: s, address: "127.0.0.1:9000"}
      - {name: d, address: "chat.svc:8080")" + extra + R"(}
)";
}

std::vector<std::string> names_of(const std::vector<const Backend*>& backends) {
  std::vector<std::string> out;
  for (const Backend* b : backends) out.push_back(b->name);
  return out;
}

}  // namespace

TEST_CASE("discover defaults to none, interval to 5s") {
  const Config config = load_ok(with_backend(""));
  const Backend& b = config.pools[0].backends[1];
  CHECK(b.discover == Discover::None);
  CHECK(b.interval == Duration(5000));
  CHECK(b.discovered_from.empty());
}

TEST_CASE("discover: dns with and without an interval") {
  CHECK(load_ok(with_backend(", discover: dns")).pools[0].backends[1].discover == Discover::Dns);
  CHECK(load_ok(with_backend(", discover: dns")).pools[0].backends[1].interval == Duration(5000));
  CHECK(load_ok(with_backend(", discover: dns, interval: 250ms")).pools[0].backends[1].interval == Duration(250));
  CHECK(load_ok(with_backend(", discover: none")).pools[0].backends[1].discover == Discover::None);
}

TEST_CASE("discover must be none or dns") {
  CHECK(errors_of(with_backend(", discover: srv")) ==
        "t.yaml:9:55: error: pools[0].backends[1].discover: expected none or dns, found \"srv\"\n");
}

TEST_CASE("interval only with discover: dns") {
  CHECK(errors_of(with_backend(", interval: 5s")) ==
        "t.yaml:9:45: error: pools[0].backends[1].interval: only with discover: dns (how often the "
        "name is resolved again)\n");
  CHECK(errors_of(with_backend(", discover: none, interval: 5s")) ==
        "t.yaml:9:61: error: pools[0].backends[1].interval: only with discover: dns (how often the "
        "name is resolved again)\n");
}

TEST_CASE("interval must be a duration above zero") {
  for (const char* value : {"0s", "5", "soon"}) {
    CAPTURE(value);
    CHECK(errors_of(with_backend(std::string(", discover: dns, interval: ") + value)) ==
          "t.yaml:9:70: error: pools[0].backends[1].interval: expected a duration above zero such as "
          "\"250ms\", \"5s\", \"2m\" or \"1h\", found \"" + std::string(value) + "\"\n");
  }
}

TEST_CASE("a typo of discover is caught as an unknown key") {
  CHECK(errors_of(with_backend(", discovr: dns")).find("did you mean \"discover\"") != std::string::npos);
}

TEST_CASE("sort_addresses: IPv4 before IPv6, numeric order, no duplicates, normalised") {
  CHECK(sort_addresses({"10.0.0.10", "10.0.0.9", "::1", "10.0.0.9", "9.0.0.1", "0:0::2", "not-an-ip"}) ==
        std::vector<std::string>{"9.0.0.1", "10.0.0.9", "10.0.0.10", "::1", "::2"});
  CHECK(sort_addresses({}).empty());
}

TEST_CASE("a discovered backend is named by its address and copies the entry's settings") {
  Backend entry;
  entry.name = "chat-backends";
  entry.address = Endpoint{"chat.svc:8080", "chat.svc", 8080};
  entry.weight = 3;
  entry.backup = true;
  entry.drain = true;
  entry.discover = Discover::Dns;
  const Backend v4 = discovered_backend(entry, "10.0.0.7");
  CHECK(v4.name == "chat-backends@10.0.0.7:8080");
  CHECK(v4.address.text == "10.0.0.7:8080");
  CHECK(v4.address.host == "10.0.0.7");
  CHECK(v4.address.port == 8080);
  CHECK(v4.weight == 3);
  CHECK(v4.backup);
  CHECK(v4.drain);
  CHECK(v4.discover == Discover::None);
  CHECK(v4.discovered_from == "chat-backends");
  const Backend v6 = discovered_backend(entry, "fd00::7");
  CHECK(v6.name == "chat-backends@[fd00::7]:8080");
  CHECK(v6.address.text == "[fd00::7]:8080");
  CHECK(v6.address.host == "fd00::7");
}

TEST_CASE("expand_backends replaces each dns entry by its addresses, in place") {
  const Config config = load_ok(R"(
listeners:
  - {name: public, bind: "127.0.0.1:8080", pool: chat}
pools:
  - name: chat
    backends:
      - {name: a, address: "a.svc:80", discover: dns}
      - {name: s, address: "127.0.0.1:9000"}
      - {name: b, address: "b.svc:81", discover: dns, weight: 2}
      - {name: c, address: "a.svc:82", discover: dns}
)");
  const Pool& pool = config.pools[0];
  std::vector<std::unique_ptr<Backend>> owned;

  SUBCASE("no answers yet (or none passed): only the static backends") {
    CHECK(names_of(expand_backends(pool, nullptr, owned)) == std::vector<std::string>{"s"});
    const DiscoveredAddresses none;
    CHECK(names_of(expand_backends(pool, &none, owned)) == std::vector<std::string>{"s"});
  }
  SUBCASE("answers: one backend per address; names sharing a host share its answer") {
    const DiscoveredAddresses found{{"a.svc", {"10.0.0.1", "10.0.0.2"}}, {"b.svc", {"10.1.0.1"}}};
    const auto expanded = expand_backends(pool, &found, owned);
    CHECK(names_of(expanded) == std::vector<std::string>{"a@10.0.0.1:80", "a@10.0.0.2:80", "s", "b@10.1.0.1:81",
                                                         "c@10.0.0.1:82", "c@10.0.0.2:82"});
    CHECK(owned.size() == 5);
    CHECK(expanded[3]->weight == 2);
    CHECK(expanded[2] == &pool.backends[1]);  // static entries are the file's own
  }
}

TEST_CASE("identity does not depend on the order of the answers or of the entries") {
  Backend entry;
  entry.name = "e";
  entry.address = Endpoint{"x:1", "x", 1};
  entry.discover = Discover::Dns;
  const auto one = sort_addresses({"10.0.0.3", "10.0.0.1", "10.0.0.2"});
  const auto two = sort_addresses({"10.0.0.2", "10.0.0.3", "10.0.0.1"});
  CHECK(one == two);
  CHECK(discovered_backend(entry, one[0]).name == "e@10.0.0.1:1");
}

TEST_CASE("discovery_names: one per distinct host, with the shortest interval") {
  const Config config = load_ok(R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
    routes: [{path_prefix: "/o", pool: other}]
pools:
  - name: chat
    backends:
      - {name: a, address: "a.svc:80", discover: dns, interval: 10s}
      - {name: s, address: "127.0.0.1:9000"}
  - name: other
    backends:
      - {name: a2, address: "a.svc:81", discover: dns, interval: 2s}
      - {name: b, address: "b.svc:81", discover: dns}
)");
  const std::vector<DiscoveryName> names = discovery_names(config);
  REQUIRE(names.size() == 2);
  CHECK(names[0].host == "a.svc");
  CHECK(names[0].interval == Duration(2000));
  CHECK(names[0].entries == std::vector<std::string>{"chat/a", "other/a2"});
  CHECK(names[1].host == "b.svc");
  CHECK(names[1].interval == Duration(5000));
  CHECK(names[1].entries == std::vector<std::string>{"other/b"});
}
