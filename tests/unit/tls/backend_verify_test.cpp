// TLS to backends: the backend's certificate is verified against the pool's CA and the expected
// name (server_name, or the backend's host), unless verification is off.
#include <doctest/doctest.h>

#include "tls_test_util.h"

using namespace ringway::tls;
using namespace ringway::tls::test;

namespace {

// A client TlsSession toward a server presenting `cert`; the client's state after the handshake.
std::unique_ptr<TlsSession> handshake(const ClientTlsContext& client_ctx, const std::string& host,
                                      const char* cert) {
  auto client = std::make_unique<TlsSession>(client_ctx, host);
  TlsSession server(server_context({cert}));
  Link link(*client, server);
  link.pump();
  return client;
}

}  // namespace

TEST_CASE("a backend with a certificate from the pool's CA and the right name is accepted") {
  const auto ctx = client_context("ca");
  const auto client = handshake(*ctx, "backend.internal", "backend");
  CHECK(client->state() == TlsState::Open);
  CHECK(client->server_name() == "backend.internal");
  CHECK(client->alpn() == "http/1.1");
}

TEST_CASE("server_name replaces the backend's host for SNI and verification") {
  const auto ctx = client_context("ca", true, "backend.internal");
  const auto client = handshake(*ctx, "10.1.2.3", "backend");
  CHECK(client->state() == TlsState::Open);
  CHECK(client->server_name() == "backend.internal");
}

TEST_CASE("a backend addressed by IP is verified against the certificate's IP addresses") {
  const auto ctx = client_context("ca");
  CHECK(handshake(*ctx, "127.0.0.1", "backend")->state() == TlsState::Open);
  const auto wrong = handshake(*ctx, "127.0.0.2", "backend");
  CHECK(wrong->state() == TlsState::Failed);
  CHECK(wrong->error() == "certificate verify failed: IP address mismatch");
}

TEST_CASE("a backend certificate from another CA is refused") {
  const auto ctx = client_context("ca");
  const auto client = handshake(*ctx, "backend.internal", "stranger");
  CHECK(client->state() == TlsState::Failed);
  CHECK(client->failure() == TlsFailure::Certificate);
  CHECK(client->error() == "certificate verify failed: unable to get local issuer certificate");
}

TEST_CASE("the wrong CA refuses a backend that the right CA accepts") {
  const auto ctx = client_context("other_ca");
  const auto client = handshake(*ctx, "backend.internal", "backend");
  CHECK(client->failure() == TlsFailure::Certificate);
}

TEST_CASE("a backend certificate for another name is refused") {
  const auto ctx = client_context("ca", true, "other.internal");
  const auto client = handshake(*ctx, "backend.internal", "backend");
  CHECK(client->state() == TlsState::Failed);
  CHECK(client->error() == "certificate verify failed: hostname mismatch");
}

TEST_CASE("verify false accepts any certificate") {
  const auto ctx = client_context("other_ca", false, "other.internal");
  CHECK(handshake(*ctx, "backend.internal", "stranger")->state() == TlsState::Open);
  CHECK(handshake(*ctx, "backend.internal", "a")->state() == TlsState::Open);
}

TEST_CASE("a CA text without a certificate cannot build a context") {
  ringway::conf::BackendTls tls;
  tls.ca_path = "garbage.txt";
  tls.ca_pem = "not a certificate";
  const auto built = ClientTlsContext::build(tls);
  CHECK(built.context == nullptr);
  CHECK(built.error == "garbage.txt: no PEM certificate");
}
