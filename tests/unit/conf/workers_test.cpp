// `workers: auto | N`: the default is auto (one per core, resolved at start); counts from 1 to 64.
#include <doctest/doctest.h>

#include <string>

#include "conf_test_util.h"

using ringway::conf::test::errors_of;
using ringway::conf::test::load_ok;

namespace {

std::string with_workers(const std::string& value) {
  return std::string(ringway::conf::test::kMinimalConfig) + "workers: " + value + "\n";
}

}  // namespace

TEST_CASE("workers defaults to auto") {
  const auto config = load_ok(ringway::conf::test::kMinimalConfig);
  CHECK(config.workers == ringway::conf::kWorkersAuto);
}

TEST_CASE("workers takes auto or a count from 1 to 64") {
  CHECK(load_ok(with_workers("auto")).workers == ringway::conf::kWorkersAuto);
  CHECK(load_ok(with_workers("1")).workers == 1);
  CHECK(load_ok(with_workers("4")).workers == 4);
  CHECK(load_ok(with_workers("64")).workers == 64);
}

TEST_CASE("workers refuses zero, negative counts, too many and words, at its position") {
  const std::string expected = "expected \"auto\" or an integer from 1 to 64, found ";
  CHECK(errors_of(with_workers("0")) == "t.yaml:10:10: error: workers: " + expected + "\"0\"\n");
  CHECK(errors_of(with_workers("-2")) == "t.yaml:10:10: error: workers: " + expected + "\"-2\"\n");
  CHECK(errors_of(with_workers("65")) == "t.yaml:10:10: error: workers: " + expected + "\"65\"\n");
  CHECK(errors_of(with_workers("many")) == "t.yaml:10:10: error: workers: " + expected + "\"many\"\n");
  CHECK(errors_of(with_workers("2.5")) == "t.yaml:10:10: error: workers: " + expected + "\"2.5\"\n");
  CHECK(errors_of(with_workers("[2]")) == "t.yaml:10:10: error: workers: " + expected + "a list\n");
}
