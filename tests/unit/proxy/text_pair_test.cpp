#include "proxy/text_pair.h"

#include <doctest/doctest.h>

#include <string>

namespace ringway {

TEST_CASE("text pair: empty until set, and each half kept when the other changes") {
  TextPair pair;
  CHECK(pair.first().empty());
  CHECK(pair.second().empty());

  pair.set_first("203.0.113.7");
  CHECK(pair.first() == "203.0.113.7");
  CHECK(pair.second().empty());

  pair.set_second("/chat?room=1");
  CHECK(pair.first() == "203.0.113.7");
  CHECK(pair.second() == "/chat?room=1");

  pair.set_first("2001:db8::1");  // a PROXY header or X-Forwarded-For replaces the address
  CHECK(pair.first() == "2001:db8::1");
  CHECK(pair.second() == "/chat?room=1");

  pair.set_second("/next");  // the next request on a keep-alive connection
  CHECK(pair.first() == "2001:db8::1");
  CHECK(pair.second() == "/next");
}

TEST_CASE("text pair: a half may be set from a view into the pair itself") {
  TextPair pair;
  pair.set_first("10.0.0.1");
  pair.set_second("/a/long/enough/target/that/is/not/inline");
  pair.set_first(pair.second());
  CHECK(pair.first() == "/a/long/enough/target/that/is/not/inline");
  CHECK(pair.second() == "/a/long/enough/target/that/is/not/inline");
  pair.set_second(pair.first().substr(3, 4));
  CHECK(pair.second() == "long");
  CHECK(pair.first() == "/a/long/enough/target/that/is/not/inline");
}

TEST_CASE("text pair: empty halves, and long texts") {
  TextPair pair;
  pair.set_second("/only-target");
  CHECK(pair.first().empty());
  CHECK(pair.second() == "/only-target");
  pair.set_second("");
  CHECK(pair.first().empty());
  CHECK(pair.second().empty());

  const std::string big(70000, 'x');  // past 16-bit sizes
  pair.set_first("1.2.3.4");
  pair.set_second(big);
  CHECK(pair.first() == "1.2.3.4");
  CHECK(pair.second() == big);
}

TEST_CASE("text pair: one pointer in size") { CHECK(sizeof(TextPair) == sizeof(void*)); }

}  // namespace ringway
