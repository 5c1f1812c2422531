// `wakeup_coalescing: 0 | <n>us | <n>ms`: 50us by default, at most 1ms, 0 turns it off.
#include <doctest/doctest.h>

#include <string>

#include "conf_test_util.h"

using ringway::conf::test::errors_of;
using ringway::conf::test::load_ok;

namespace {

const std::string kBase(ringway::conf::test::kMinimalConfig);

std::string with_coalescing(const std::string& value) { return kBase + "wakeup_coalescing: " + value + "\n"; }

}  // namespace

TEST_CASE("wakeup_coalescing defaults to 50us") {
  CHECK(load_ok(kBase).wakeup_coalescing_us == 50);
  CHECK(ringway::conf::kDefaultWakeupCoalescingUs == 50);
}

TEST_CASE("wakeup_coalescing takes 0, microseconds or milliseconds up to 1ms") {
  CHECK(load_ok(with_coalescing("0")).wakeup_coalescing_us == 0);
  CHECK(load_ok(with_coalescing("0us")).wakeup_coalescing_us == 0);
  CHECK(load_ok(with_coalescing("1us")).wakeup_coalescing_us == 1);
  CHECK(load_ok(with_coalescing("200us")).wakeup_coalescing_us == 200);
  CHECK(load_ok(with_coalescing("1ms")).wakeup_coalescing_us == 1000);
  CHECK(load_ok(with_coalescing("1000us")).wakeup_coalescing_us == 1000);
}

TEST_CASE("wakeup_coalescing refuses more than 1ms, other units and words, at its position") {
  const std::string expected = "expected 0 or a time from 1us to 1ms (\"50us\"), found ";
  const std::string at = "t.yaml:10:20: error: wakeup_coalescing: ";
  CHECK(errors_of(with_coalescing("1001us")) == at + expected + "\"1001us\"\n");
  CHECK(errors_of(with_coalescing("2ms")) == at + expected + "\"2ms\"\n");
  CHECK(errors_of(with_coalescing("1s")) == at + expected + "\"1s\"\n");
  CHECK(errors_of(with_coalescing("50")) == at + expected + "\"50\"\n");
  CHECK(errors_of(with_coalescing("-5us")) == at + expected + "\"-5us\"\n");
  CHECK(errors_of(with_coalescing("off")) == at + expected + "\"off\"\n");
  CHECK(errors_of(with_coalescing("[50us]")) == at + expected + "a list\n");
}
