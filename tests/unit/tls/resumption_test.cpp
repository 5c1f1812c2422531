// Session resumption: TLS 1.3 tickets, TLS 1.2 tickets and the TLS 1.2 session cache, under any of
// the listener's certificates and across a rebuilt (reloaded) context with the same ticket keys.
#include <doctest/doctest.h>

#include "tls_test_util.h"

using namespace ringway::tls;
using namespace ringway::tls::test;

namespace {

struct Outcome {
  bool client_resumed = false;
  bool server_resumed = false;
  std::string version;
  SslSessionPtr next;  // what the client may offer on its next connection
};

// One connection: handshake, a request and an answer (TLS 1.3 tickets come with the first records).
Outcome connect(const ClientTlsContext& client_ctx,
                const std::shared_ptr<const ServerTlsContext>& server_ctx, const std::string& sni,
                SSL_SESSION* resume) {
  TlsSession client(client_ctx, sni, resume);
  TlsSession server(server_ctx);
  Link link(client, server);
  link.pump();
  REQUIRE(client.handshake_done());
  REQUIRE(server.handshake_done());
  REQUIRE(client.write_plaintext(bytes_of("ping")));
  REQUIRE(server.write_plaintext(bytes_of("pong")));
  link.pump();
  CHECK(link.client_got == "pong");
  return Outcome{.client_resumed = client.resumed(),
                 .server_resumed = server.resumed(),
                 .version = std::string(server.version()),
                 .next = client.session_for_resumption()};
}

std::shared_ptr<const ClientTlsContext> client_max(int version, bool tickets = true) {
  auto ctx = lax_client();
  REQUIRE(SSL_CTX_set_max_proto_version(ctx->native_handle(), version) == 1);
  if (!tickets) SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_TICKET);
  return ctx;
}

}  // namespace

TEST_CASE("TLS 1.3: the second connection resumes with the first one's ticket") {
  const auto server_ctx = server_context({"a", "b"});
  const auto client_ctx = client_max(TLS1_3_VERSION);
  Outcome first = connect(*client_ctx, server_ctx, "a.example.com", nullptr);
  CHECK(first.version == "TLSv1.3");
  CHECK_FALSE(first.server_resumed);
  REQUIRE(first.next != nullptr);
  const Outcome second = connect(*client_ctx, server_ctx, "a.example.com", first.next.get());
  CHECK(second.client_resumed);
  CHECK(second.server_resumed);
}

TEST_CASE("TLS 1.3: a ticket from one certificate's name resumes under another's") {
  const auto server_ctx = server_context({"a", "b"});
  const auto client_ctx = client_max(TLS1_3_VERSION);
  Outcome first = connect(*client_ctx, server_ctx, "b.example.com", nullptr);
  REQUIRE(first.next != nullptr);
  CHECK(connect(*client_ctx, server_ctx, "b.example.com", first.next.get()).server_resumed);
}

TEST_CASE("TLS 1.2: the second connection resumes with a ticket") {
  const auto server_ctx = server_context({"a"});
  const auto client_ctx = client_max(TLS1_2_VERSION);
  Outcome first = connect(*client_ctx, server_ctx, "a.example.com", nullptr);
  CHECK(first.version == "TLSv1.2");
  REQUIRE(first.next != nullptr);
  const Outcome second = connect(*client_ctx, server_ctx, "a.example.com", first.next.get());
  CHECK(second.client_resumed);
  CHECK(second.server_resumed);
}

TEST_CASE("TLS 1.2: a client without tickets resumes from the server's session cache") {
  const auto server_ctx = server_context({"a"});
  const auto client_ctx = client_max(TLS1_2_VERSION, false);
  Outcome first = connect(*client_ctx, server_ctx, "a.example.com", nullptr);
  REQUIRE(first.next != nullptr);
  CHECK(connect(*client_ctx, server_ctx, "a.example.com", first.next.get()).server_resumed);
}

TEST_CASE("tickets survive a reload: a new context with the same ticket keys resumes them") {
  const auto client_ctx = client_max(TLS1_3_VERSION);
  Outcome first = connect(*client_ctx, server_context({"a"}), "a.example.com", nullptr);
  REQUIRE(first.next != nullptr);
  CHECK(connect(*client_ctx, server_context({"b", "a"}), "a.example.com", first.next.get())
            .server_resumed);
  // Other keys (another process): a full handshake, which still works.
  const TicketKeys other = TicketKeys::generate();
  const Outcome fresh =
      connect(*client_ctx, server_context({"a"}, ringway::conf::TlsVersion::Tls12, other),
              "a.example.com", first.next.get());
  CHECK_FALSE(fresh.server_resumed);
}
