#include <doctest/doctest.h>

#include "proxy/ws/token_bucket.h"

using ringway::ws::TokenBucket;

TEST_CASE("a disabled bucket admits everything") {
  TokenBucket bucket;
  bucket.configure(0, 0, 0);
  for (int i = 0; i < 1000; ++i) CHECK(bucket.take(0));
}

TEST_CASE("a full bucket admits exactly burst messages at once, then the rate") {
  TokenBucket bucket;
  bucket.configure(10, 20, 1000);
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += bucket.take(1000) ? 1 : 0;
  CHECK(admitted == 20);
  // 10 per second: one token every 100 ms.
  CHECK_FALSE(bucket.take(1099));
  CHECK(bucket.take(1100));
  CHECK_FALSE(bucket.take(1100));
  // A long pause refills to burst, not beyond.
  admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += bucket.take(100000) ? 1 : 0;
  CHECK(admitted == 20);
}

TEST_CASE("burst 0 means one second's worth") {
  TokenBucket bucket;
  bucket.configure(5, 0, 0);
  int admitted = 0;
  for (int i = 0; i < 50; ++i) admitted += bucket.take(0) ? 1 : 0;
  CHECK(admitted == 5);
}

TEST_CASE("a steady sender at the rate is never refused") {
  TokenBucket bucket;
  bucket.configure(50, 1, 0);
  for (uint64_t t = 20; t < 10000; t += 20) CHECK(bucket.take(t));
}

TEST_CASE("time going backwards does not mint tokens") {
  TokenBucket bucket;
  bucket.configure(1, 1, 5000);
  CHECK(bucket.take(5000));
  CHECK_FALSE(bucket.take(1000));
  CHECK_FALSE(bucket.take(5999));
  CHECK(bucket.take(6000));
}
