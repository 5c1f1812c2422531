// Data transfer: large payloads both ways split at random sizes, close_notify, buffers released
// when idle, and a reload that leaves established connections alone.
#include <doctest/doctest.h>

#include <random>

#include "tls_test_util.h"

using namespace ringway::tls;
using namespace ringway::tls::test;

namespace {

std::string random_text(std::mt19937& random, size_t size) {
  std::string text(size, '\0');
  for (char& c : text) c = static_cast<char>(random());
  return text;
}

// Writes `text` in pieces of random size, pumping now and then, as a relay would.
void write_in_pieces(TlsSession& from, const std::string& text, Link& link, std::mt19937& random) {
  size_t at = 0;
  while (at < text.size()) {
    const size_t piece =
        std::min(text.size() - at, std::uniform_int_distribution<size_t>(1, 70000)(random));
    REQUIRE(from.write_plaintext(bytes_of(text).subspan(at, piece)));
    at += piece;
    if (random() % 3 == 0) link.pump();
  }
  link.pump();
}

}  // namespace

TEST_CASE("1 MiB each way, split at random sizes, arrives intact") {
  for (const unsigned seed : {1U, 2U, 3U}) {
    CAPTURE(seed);
    std::mt19937 random(seed);
    const auto client_ctx = lax_client();
    TlsSession client(*client_ctx, "a.example.com");
    TlsSession server(server_context({"a"}));
    Link link(client, server, &random, seed == 3 ? 300 : 70000);
    link.pump();
    REQUIRE(server.handshake_done());
    const std::string up = random_text(random, 1024 * 1024);
    const std::string down = random_text(random, 1024 * 1024);
    write_in_pieces(client, up, link, random);
    write_in_pieces(server, down, link, random);
    CHECK(link.server_got.size() == up.size());
    CHECK(link.server_got == up);
    CHECK(link.client_got.size() == down.size());
    CHECK(link.client_got == down);
    CHECK(client.buffered_bytes() == 0);
    CHECK(server.buffered_bytes() == 0);
  }
}

TEST_CASE("1 MiB written in one call goes through in one ciphertext burst") {
  const auto client_ctx = lax_client();
  TlsSession client(*client_ctx, "a.example.com");
  TlsSession server(server_context({"a"}));
  Link link(client, server);
  link.pump();
  std::mt19937 random(9);
  const std::string big = random_text(random, 1024 * 1024);
  REQUIRE(server.write_plaintext(bytes_of(big)));
  const size_t ciphertext = server.pending_ciphertext().size();
  CHECK(ciphertext > big.size());
  CHECK(ciphertext < big.size() + 64 * 30);  // 64 records of 16 KiB, a few dozen bytes each extra
  link.pump();
  CHECK(link.client_got == big);
}

TEST_CASE("close_notify: the peer sees the end after the data, and may still answer") {
  const auto client_ctx = lax_client();
  TlsSession client(*client_ctx, "a.example.com");
  TlsSession server(server_context({"a"}));
  Link link(client, server);
  link.pump();
  REQUIRE(client.write_plaintext(bytes_of("last words")));
  client.shutdown();
  CHECK_FALSE(client.write_plaintext(bytes_of("after the end")));
  link.pump();
  CHECK(link.server_got == "last words");
  CHECK(server.state() == TlsState::PeerClosed);
  CHECK(server.handshake_done());
  CHECK(server.error().empty());
  REQUIRE(server.write_plaintext(bytes_of("goodbye")));  // a half-closed connection still sends
  server.shutdown();
  link.pump();
  CHECK(link.client_got == "goodbye");
  CHECK(client.state() == TlsState::PeerClosed);
  std::array<uint8_t, 16> scratch{};
  CHECK(server.read_plaintext(scratch) == 0);
}

TEST_CASE("shutdown before the handshake is over sends nothing") {
  const auto client_ctx = lax_client();
  TlsSession server(server_context({"a"}));
  server.shutdown();
  CHECK(server.pending_ciphertext().empty());
  CHECK(server.state() == TlsState::Handshaking);
}

TEST_CASE("a connection established before a reload keeps working after the old context is gone") {
  auto old_ctx = server_context({"a"});
  const auto client_ctx = lax_client();
  TlsSession client(*client_ctx, "a.example.com");
  auto server = std::make_unique<TlsSession>(old_ctx);
  Link link(client, *server);
  link.pump();
  REQUIRE(server->handshake_done());
  std::weak_ptr<const ServerTlsContext> watch = old_ctx;
  old_ctx = server_context({"b"});  // the reload: new handshakes get the new certificate
  CHECK(watch.expired());           // the connection holds its SSL_CTX, not the context set
  REQUIRE(client.write_plaintext(bytes_of("still here")));
  REQUIRE(server->write_plaintext(bytes_of("so am I")));
  link.pump();
  CHECK(link.server_got == "still here");
  CHECK(link.client_got == "so am I");
  TlsSession client2(*client_ctx, "a.example.com");
  TlsSession server2(old_ctx);
  Link link2(client2, server2);
  link2.pump();
  CHECK(peer_names(client2).front() == "b.example.com");
}
