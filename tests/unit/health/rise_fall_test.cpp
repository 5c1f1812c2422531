// The rise/fall state machine: how many checks in a row move a backend, and what resets a run.
#include <doctest/doctest.h>

#include <vector>

#include "health/rise_fall.h"

using ringway::health::Health;
using ringway::health::RiseFall;

namespace {

// Feeds `results` ("+" ok, "-" failure) and returns the health after each.
std::vector<Health> run(RiseFall& m, const char* results) {
  std::vector<Health> out;
  for (const char* c = results; *c != '\0'; ++c) {
    m.record(*c == '+');
    out.push_back(m.health());
  }
  return out;
}

constexpr Health U = Health::Up;
constexpr Health D = Health::Down;

}  // namespace

TEST_CASE("a new backend (unknown) is up after its first good check, whatever rise says") {
  RiseFall m(5, 3, Health::Unknown);
  CHECK(m.record(true));
  CHECK(m.health() == Health::Up);
}

TEST_CASE("a new backend whose first check fails is reported down at once and then needs rise") {
  RiseFall m(2, 3, Health::Unknown);
  CHECK(m.record(false));
  CHECK(m.health() == Health::Down);
  CHECK(run(m, "+-++") == std::vector<Health>{D, D, D, U});
}

TEST_CASE("an up backend goes down after exactly `fall` failures in a row") {
  RiseFall m(2, 3, Health::Up);
  CHECK_FALSE(m.record(false));
  CHECK_FALSE(m.record(false));
  CHECK(m.record(false));
  CHECK(m.health() == Health::Down);
}

TEST_CASE("a success in between resets the failure run, and a failure resets the success run") {
  RiseFall up(2, 3, Health::Up);
  CHECK(run(up, "--+--+--+") == std::vector<Health>{U, U, U, U, U, U, U, U, U});
  CHECK(run(up, "---") == std::vector<Health>{U, U, D});
  CHECK(run(up, "+-+-+-") == std::vector<Health>{D, D, D, D, D, D});
  CHECK(run(up, "++") == std::vector<Health>{D, U});
}

TEST_CASE("record() reports a change exactly once per transition") {
  RiseFall m(2, 2, Health::Up);
  int changes = 0;
  for (const char c : std::string_view("--++--++")) changes += m.record(c == '+') ? 1 : 0;
  CHECK(changes == 4);
  CHECK(m.health() == Health::Up);
}

TEST_CASE("rise 1 and fall 1 follow every check; 0 is taken as 1") {
  RiseFall m(1, 1, Health::Up);
  CHECK(run(m, "-+-+") == std::vector<Health>{D, U, D, U});
  RiseFall z(0, 0, Health::Up);
  CHECK(run(z, "-+") == std::vector<Health>{D, U});
}

TEST_CASE("for every rise and fall, a run shorter than the threshold never moves the backend") {
  for (uint32_t rise = 1; rise <= 4; ++rise) {
    for (uint32_t fall = 1; fall <= 4; ++fall) {
      CAPTURE(rise);
      CAPTURE(fall);
      // Every sequence of 10 results: the health changes exactly when the current run reaches the
      // threshold of the current state.
      for (uint32_t bits = 0; bits < (1u << 10); ++bits) {
        RiseFall m(rise, fall, Health::Up);
        Health expected = Health::Up;
        uint32_t run_length = 0;
        for (int i = 0; i < 10; ++i) {
          const bool ok = ((bits >> i) & 1u) != 0;
          const bool against = (expected == Health::Up) != ok;  // a result that pushes toward a change
          run_length = against ? run_length + 1 : 0;
          const uint32_t threshold = expected == Health::Up ? fall : rise;
          bool flips = false;
          if (against && run_length >= threshold) {
            expected = expected == Health::Up ? Health::Down : Health::Up;
            run_length = 0;
            flips = true;
          }
          REQUIRE(m.record(ok) == flips);
          REQUIRE(m.health() == expected);
        }
      }
    }
  }
}

TEST_CASE("to_string names the three states as /status shows them") {
  CHECK(std::string(to_string(Health::Unknown)) == "unknown");
  CHECK(std::string(to_string(Health::Up)) == "up");
  CHECK(std::string(to_string(Health::Down)) == "down");
}
