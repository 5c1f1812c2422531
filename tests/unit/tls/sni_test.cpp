// SNI: the certificate is picked by the names inside the certificates (SAN DNS names, exact or
// "*." wildcard, the CN when there is no SAN); the first certificate is the default.
#include <doctest/doctest.h>

#include "tls_test_util.h"

using namespace ringway::tls;
using namespace ringway::tls::test;

namespace {

// The first name of the certificate the server presents to a client that sends `sni` ("" = none).
std::string served_for(const std::shared_ptr<const ServerTlsContext>& server_ctx,
                       const std::string& sni) {
  const auto client_ctx = lax_client();
  TlsSession client(*client_ctx, sni);
  TlsSession server(server_ctx);
  Link link(client, server);
  link.pump();
  REQUIRE(server.handshake_done());
  REQUIRE(client.handshake_done());
  CHECK(server.server_name() == sni);
  const auto names = peer_names(client);
  return names.empty() ? std::string() : names.front();
}

}  // namespace

TEST_CASE("SNI picks the right certificate for two names and the default for others") {
  const auto ctx = server_context({"a", "b", "wild", "cn"});
  CHECK(served_for(ctx, "a.example.com") == "a.example.com");
  CHECK(served_for(ctx, "alt.example.com") == "a.example.com");  // a's second SAN name
  CHECK(served_for(ctx, "b.example.com") == "b.example.com");
  CHECK(served_for(ctx, "unknown.example.org") == "a.example.com");
  CHECK(served_for(ctx, "") == "a.example.com");  // no SNI at all: the default
}

TEST_CASE("the default is whichever certificate comes first") {
  const auto ctx = server_context({"b", "a"});
  CHECK(served_for(ctx, "nobody.example.com") == "b.example.com");
  CHECK(served_for(ctx, "a.example.com") == "a.example.com");
}

TEST_CASE("a wildcard certificate serves one label below its domain, no more, no less") {
  const auto ctx = server_context({"a", "wild"});
  CHECK(served_for(ctx, "x.wild.example.com") == "*.wild.example.com");
  CHECK(served_for(ctx, "chat-7.wild.example.com") == "*.wild.example.com");
  CHECK(served_for(ctx, "a.b.wild.example.com") == "a.example.com");
  CHECK(served_for(ctx, "wild.example.com") == "a.example.com");
}

TEST_CASE("a certificate without subjectAltName is picked by its CN") {
  const auto ctx = server_context({"a", "cn"});
  CHECK(served_for(ctx, "cn.example.com") == "cn.example.com");
}

TEST_CASE("SNI matching ignores case and a trailing dot") {
  const auto ctx = server_context({"a", "b", "wild"});
  CHECK(ctx->select("B.Example.COM") == 1);
  CHECK(ctx->select("b.example.com.") == 1);
  CHECK(ctx->select("X.WILD.example.com") == 2);
}

TEST_CASE("an exact name wins over a wildcard, and an earlier certificate over a later one") {
  const auto ctx = server_context({"wild", "a", "b", "a"});
  CHECK(ctx->select("a.example.com") == 1);
  CHECK(ctx->select("b.example.com") == 2);
  CHECK(ctx->select("q.wild.example.com") == 0);
  CHECK(ctx->select("") == 0);
  CHECK(ctx->select(std::string(300, 'a')) == 0);
}

TEST_CASE("the names read from each certificate are exposed") {
  const auto ctx = server_context({"a", "wild", "cn"});
  REQUIRE(ctx->certificate_count() == 3);
  CHECK(std::vector<std::string>(ctx->names(0).begin(), ctx->names(0).end()) ==
        std::vector<std::string>{"a.example.com", "alt.example.com"});
  CHECK(ctx->names(1).front() == "*.wild.example.com");
  CHECK(ctx->names(2).front() == "cn.example.com");
}

TEST_CASE("RSA and ECDSA certificates both serve handshakes") {
  const auto ctx = server_context({"a", "b"});
  for (const char* name : {"a.example.com", "b.example.com"}) {
    CAPTURE(name);
    const auto client_ctx = lax_client();
    TlsSession client(*client_ctx, name);
    TlsSession server(ctx);
    Link link(client, server);
    link.pump();
    REQUIRE(client.handshake_done());
    const int type = EVP_PKEY_get_base_id(X509_get0_pubkey(client.peer_certificate()));
    CHECK(type == (std::string(name) == "a.example.com" ? EVP_PKEY_RSA : EVP_PKEY_EC));
  }
}

TEST_CASE(
    "a context without a certificate, or with a key that is not its certificate's, is refused") {
  ringway::conf::ListenerTls none;
  CHECK(ServerTlsContext::build(none, ticket_keys()).context == nullptr);
  ringway::conf::ListenerTls mixed;
  mixed.certificates.push_back(certificate("a"));
  mixed.certificates[0].key_pem = certificate("b").key_pem;
  const auto built = ServerTlsContext::build(mixed, ticket_keys());
  CHECK(built.context == nullptr);
  CHECK(built.error.find("does not match") != std::string::npos);
}
