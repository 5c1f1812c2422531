// Handshakes: versions, ALPN, and the ways a handshake fails, each with a reason for the log.
#include <doctest/doctest.h>

#include <random>

#include "tls_test_util.h"

using namespace ringway::tls;
using namespace ringway::tls::test;
using ringway::conf::TlsVersion;

namespace {

// A client limited to exactly `version` (TLS1_1_VERSION, ...), old versions allowed on its side.
std::shared_ptr<const ClientTlsContext> client_only(int version) {
  auto ctx = lax_client();
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_security_level(native, 0);
  REQUIRE(SSL_CTX_set_cipher_list(native, "DEFAULT:@SECLEVEL=0") == 1);
  REQUIRE(SSL_CTX_set_min_proto_version(native, version) == 1);
  REQUIRE(SSL_CTX_set_max_proto_version(native, version) == 1);
  return ctx;
}

// The server's side of feeding it `bytes` as the first thing on the connection.
void feed_raw(TlsSession& server, const std::string& bytes) {
  server.feed_ciphertext(bytes_of(bytes));
  std::array<uint8_t, 256> scratch{};
  CHECK(server.read_plaintext(scratch) == 0);
}

}  // namespace

TEST_CASE("a handshake negotiates TLS 1.3 and http/1.1, and data flows both ways") {
  const auto client_ctx = client_context("ca", true, "a.example.com");
  TlsSession client(*client_ctx, "10.0.0.1");
  TlsSession server(server_context({"a"}));
  CHECK(client.state() == TlsState::Handshaking);
  CHECK_FALSE(client.pending_ciphertext().empty());  // the ClientHello is ready at once
  Link link(client, server);
  link.pump();
  REQUIRE(server.state() == TlsState::Open);
  REQUIRE(client.state() == TlsState::Open);
  CHECK(server.version() == "TLSv1.3");
  CHECK(server.alpn() == "http/1.1");
  CHECK(client.alpn() == "http/1.1");
  CHECK(server.server_name() == "a.example.com");
  CHECK_FALSE(server.cipher().empty());
  CHECK_FALSE(server.resumed());
  CHECK(client.write_plaintext(bytes_of("GET / HTTP/1.1\r\n\r\n")));
  link.pump();
  CHECK(link.server_got == "GET / HTTP/1.1\r\n\r\n");
  CHECK(server.write_plaintext(bytes_of("HTTP/1.1 101 Switching Protocols\r\n\r\n")));
  link.pump();
  CHECK(link.client_got == "HTTP/1.1 101 Switching Protocols\r\n\r\n");
}

TEST_CASE("a handshake fed one byte at a time completes") {
  const auto client_ctx = lax_client();
  TlsSession client(*client_ctx, "b.example.com");
  TlsSession server(server_context({"a", "b"}));
  Link link(client, server, nullptr, 1);
  link.pump();
  CHECK(client.handshake_done());
  CHECK(server.handshake_done());
  CHECK(server.server_name() == "b.example.com");
}

TEST_CASE("what a client writes before the handshake ends waits for it and arrives whole") {
  const auto client_ctx = lax_client();
  TlsSession client(*client_ctx, "a.example.com");
  CHECK(client.write_plaintext(bytes_of("early request head")));
  TlsSession server(server_context({"a"}));
  Link link(client, server);
  link.pump();
  CHECK(link.server_got == "early request head");
}

TEST_CASE("a client that offers only another protocol gets no ALPN but a working connection") {
  const auto client_ctx = lax_client();
  static constexpr std::array<unsigned char, 3> kH2 = {2, 'h', '2'};
  REQUIRE(SSL_CTX_set_alpn_protos(client_ctx->native_handle(), kH2.data(), kH2.size()) == 0);
  TlsSession client(*client_ctx, "a.example.com");
  TlsSession server(server_context({"a"}));
  Link link(client, server);
  link.pump();
  CHECK(server.handshake_done());
  CHECK(server.alpn().empty());
}

TEST_CASE("TLS 1.2 is accepted with min_version 1.2") {
  const auto client_ctx = client_only(TLS1_2_VERSION);
  TlsSession client(*client_ctx, "a.example.com");
  TlsSession server(server_context({"a"}, TlsVersion::Tls12));
  Link link(client, server);
  link.pump();
  CHECK(server.version() == "TLSv1.2");
  CHECK(server.alpn() == "http/1.1");
}

TEST_CASE("TLS 1.1 is refused with min_version 1.2, and TLS 1.2 with min_version 1.3") {
  struct Case {
    int client_version;
    TlsVersion server_min;
  };
  for (const Case c :
       {Case{TLS1_1_VERSION, TlsVersion::Tls12}, Case{TLS1_2_VERSION, TlsVersion::Tls13}}) {
    CAPTURE(c.client_version);
    const auto client_ctx = client_only(c.client_version);
    TlsSession client(*client_ctx, "a.example.com");
    TlsSession server(server_context({"a"}, c.server_min));
    Link link(client, server);
    link.pump();
    CHECK(server.state() == TlsState::Failed);
    CHECK(server.failure() == TlsFailure::Version);
    CHECK(server.error() == "unsupported protocol (no TLS version in common)");
    CHECK(client.state() == TlsState::Failed);  // it got the protocol_version alert
    CHECK(client.failure() == TlsFailure::Version);
    CHECK_FALSE(server.write_plaintext(bytes_of("x")));
  }
}

TEST_CASE("no cipher in common: an ECDSA-only server and a client that wants RSA") {
  const auto client_ctx = client_only(TLS1_2_VERSION);
  REQUIRE(SSL_CTX_set_cipher_list(client_ctx->native_handle(), "ECDHE-RSA-AES128-GCM-SHA256") == 1);
  TlsSession client(*client_ctx, "b.example.com");
  TlsSession server(server_context({"b"}));
  Link link(client, server);
  link.pump();
  CHECK(server.state() == TlsState::Failed);
  CHECK(server.failure() == TlsFailure::NoSharedCipher);
  CHECK(server.error() == "no shared cipher");
  CHECK(client.state() == TlsState::Failed);
  CHECK(client.failure() == TlsFailure::NoSharedCipher);
}

TEST_CASE("plain HTTP sent to a TLS port fails with that reason") {
  TlsSession server(server_context({"a"}));
  feed_raw(server, "GET /chat HTTP/1.1\r\nHost: a.example.com\r\nUpgrade: websocket\r\n\r\n");
  CHECK(server.state() == TlsState::Failed);
  CHECK(server.failure() == TlsFailure::PlainHttp);
  CHECK(server.error() == "plain HTTP sent to a TLS port");
  // Whatever comes next is ignored; nothing is decrypted.
  feed_raw(server, "more");
  CHECK(server.state() == TlsState::Failed);
}

TEST_CASE("plain HTTP with other methods is recognised as well") {
  for (const char* request : {"POST / HTTP/1.1\r\n", "HEAD / HTTP/1.1\r\n", "PUT / HTTP/1.1\r\n",
                              "CONNECT a:443 HTTP/1.1\r\n"}) {
    CAPTURE(request);
    TlsSession server(server_context({"a"}));
    feed_raw(server, request);
    CHECK(server.failure() == TlsFailure::PlainHttp);
  }
}

TEST_CASE("random bytes fail the handshake with a clear reason, never crash") {
  std::mt19937 random(6);
  int not_tls = 0;
  for (int run = 0; run < 200; ++run) {
    std::string garbage(std::uniform_int_distribution<size_t>(1, 2000)(random), '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    TlsSession server(server_context({"a"}));
    feed_raw(server, garbage);
    // A short prefix can look like the start of a record: then it waits for more.
    if (server.state() == TlsState::Handshaking) continue;
    CAPTURE(server.error());
    REQUIRE(server.state() == TlsState::Failed);
    CHECK_FALSE(server.error().empty());
    not_tls += server.failure() == TlsFailure::NotTls ? 1 : 0;
  }
  CHECK(not_tls > 150);
  TlsSession server(server_context({"a"}));
  feed_raw(server, std::string("\x16\x03\x01\x00\x05hello", 10));  // a record, but no ClientHello
  CHECK(server.state() == TlsState::Failed);
  CHECK_FALSE(server.error().empty());
}

TEST_CASE("a failed handshake leaves the alert to send, then nothing more") {
  const auto client_ctx = client_only(TLS1_1_VERSION);
  TlsSession client(*client_ctx, "a.example.com");
  TlsSession server(server_context({"a"}));
  server.feed_ciphertext(client.pending_ciphertext());
  client.consume_ciphertext(client.pending_ciphertext().size());
  std::array<uint8_t, 64> scratch{};
  CHECK(server.read_plaintext(scratch) == 0);
  REQUIRE(server.state() == TlsState::Failed);
  const auto alert = server.pending_ciphertext();
  REQUIRE(alert.size() == 7);
  CHECK(alert[0] == 21);  // an alert record
  CHECK(alert[6] == SSL_AD_PROTOCOL_VERSION);
}

TEST_CASE("feeding again before reading the previous bytes is caught, not silently corrupted") {
  const auto client_ctx = lax_client();
  TlsSession client(*client_ctx, "a.example.com");
  TlsSession server(server_context({"a"}));
  Link link(client, server);
  link.pump();
  REQUIRE(client.write_plaintext(bytes_of("one")));
  std::vector<uint8_t> first(client.pending_ciphertext().begin(),
                             client.pending_ciphertext().end());
  client.consume_ciphertext(first.size());
  REQUIRE(client.write_plaintext(bytes_of("two")));
  std::vector<uint8_t> second(client.pending_ciphertext().begin(),
                              client.pending_ciphertext().end());
  server.feed_ciphertext(first);
  server.feed_ciphertext(second);  // the first was never read
  CHECK(server.state() == TlsState::Failed);
  CHECK(server.failure() == TlsFailure::Protocol);
}
