// Passive ejection: consecutive failures eject for eject_for, a success clears the count, the
// backend comes back on probation, and concurrent reporters eject it exactly once.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "health/hooks.h"
#include "health/log_sink.h"
#include "health/passive.h"

using namespace ringway;
using namespace ringway::health;

namespace {

conf::Passive passive(uint32_t failures, int64_t eject_ms) {
  conf::Passive p;
  p.failures = failures;
  p.eject_for = conf::Duration(eject_ms);
  return p;
}

}  // namespace

TEST_CASE("`failures` consecutive failures eject the backend for eject_for, and not one fewer") {
  BackendState s;
  const auto p = passive(3, 10000);
  CHECK_FALSE(record_failure(s, p, 1000));
  CHECK_FALSE(record_failure(s, p, 1001));
  CHECK(s.usable(1002));
  CHECK(record_failure(s, p, 1002));
  CHECK_FALSE(s.usable(1002));
  CHECK(is_ejected(s, 1002));
  CHECK(ejected_for_ms(s, 1002) == 10000);
  CHECK(ejected_for_ms(s, 6002) == 5000);
  CHECK_FALSE(s.usable(11001));
  CHECK(s.usable(11002));  // back exactly at the end of the window
  CHECK_FALSE(is_ejected(s, 11002));
  CHECK(s.ejections.load() == 1);
}

TEST_CASE("a success clears the run of failures") {
  BackendState s;
  const auto p = passive(2, 5000);
  CHECK_FALSE(record_failure(s, p, 10));
  record_success(s);
  CHECK_FALSE(record_failure(s, p, 20));
  CHECK(s.usable(20));
  CHECK(record_failure(s, p, 30));
  CHECK_FALSE(s.usable(30));
}

TEST_CASE("failures reported while ejected (connects begun before) do not stretch the ejection") {
  BackendState s;
  const auto p = passive(1, 1000);
  CHECK(record_failure(s, p, 100));
  CHECK_FALSE(record_failure(s, p, 500));
  CHECK_FALSE(record_failure(s, p, 1099));
  CHECK(s.usable(1100));
  CHECK(s.ejections.load() == 1);
}

TEST_CASE("after eject_for the backend is on probation: the next failure ejects it again at once") {
  BackendState s;
  const auto p = passive(3, 1000);
  for (uint64_t t = 0; t < 3; ++t) record_failure(s, p, t);
  REQUIRE_FALSE(s.usable(500));
  REQUIRE(s.usable(1002));
  CHECK(record_failure(s, p, 1002));  // one failure is enough after a return
  CHECK_FALSE(s.usable(1003));
  CHECK(s.ejections.load() == 2);
}

TEST_CASE("a success after the return ends the probation: `failures` are needed again") {
  BackendState s;
  const auto p = passive(3, 1000);
  for (uint64_t t = 0; t < 3; ++t) record_failure(s, p, t);
  record_success(s);
  CHECK_FALSE(record_failure(s, p, 1100));
  CHECK_FALSE(record_failure(s, p, 1101));
  CHECK(record_failure(s, p, 1102));
}

TEST_CASE("clear_ejection puts the backend back at once with a clean count") {
  BackendState s;
  const auto p = passive(1, 60000);
  CHECK(record_failure(s, p, 0));
  clear_ejection(s);
  CHECK(s.usable(1));
  CHECK(s.consecutive_failures.load() == 0);
}

TEST_CASE("usable() also needs health up and no drain, whatever the ejection") {
  BackendState s;
  CHECK(s.usable(0));
  s.health = Health::Unknown;
  CHECK_FALSE(s.usable(0));
  s.health = Health::Down;
  CHECK_FALSE(s.usable(0));
  s.health = Health::Up;
  s.draining = true;
  CHECK_FALSE(s.usable(0));
}

TEST_CASE("many workers reporting at once eject the backend exactly once") {
  for (int round = 0; round < 20; ++round) {
    BackendState s;
    const auto p = passive(5, 100000);
    std::atomic<int> ejected{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          if (record_failure(s, p, 1000)) ejected.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(ejected.load() == 1);
    CHECK(s.ejections.load() == 1);
    CHECK_FALSE(s.usable(1000));
  }
}

TEST_CASE("hooks: a new backend of a checked pool starts unknown; without checks it is up") {
  conf::Pool checked;
  checked.health_check = conf::HealthCheck{};
  BackendState a;
  on_backend_created(a, checked);
  CHECK(a.health.load() == Health::Unknown);
  CHECK_FALSE(a.usable(0));
  BackendState b;
  b.health = Health::Down;
  on_backend_created(b, conf::Pool{});
  CHECK(b.health.load() == Health::Up);
}

TEST_CASE("hooks: failures without passive ejection configured change nothing; successes clear") {
  BackendState s;
  for (int i = 0; i < 100; ++i) on_backend_failure(s, std::nullopt, 5, "pool", "b", "connection refused");
  CHECK(s.usable(5));
  CHECK(s.consecutive_failures.load() == 0);
  set_log_sink([](LogLevel, std::string_view, std::initializer_list<LogField>) {});  // keep the output quiet
  const std::optional<conf::Passive> p = passive(2, 1000);
  on_backend_failure(s, p, 5, "pool", "b", "connection refused");
  on_backend_connected(s);
  on_backend_failure(s, p, 6, "pool", "b", "connection refused");
  CHECK(s.usable(6));
  on_backend_failure(s, p, 7, "pool", "b", "connection refused");
  CHECK_FALSE(s.usable(7));
  set_log_sink(nullptr);
}
