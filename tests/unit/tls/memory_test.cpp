// Memory held by an idle TLS connection (server side), measured on the heap: an established
// connection that has exchanged data and gone quiet keeps its SSL, its BIO and no buffers.
#include <doctest/doctest.h>
#include <malloc.h>

#include "tls_test_util.h"

using namespace ringway::tls;
using namespace ringway::tls::test;

namespace {

size_t heap_in_use() { return mallinfo2().uordblks; }

// Heap bytes per idle server-side session, over `count` connections with clients of `max_version`.
size_t idle_bytes_per_session(int max_version, size_t count) {
  const auto server_ctx = server_context({"b"});  // ECDSA P-256
  const auto client_ctx = lax_client();
  REQUIRE(SSL_CTX_set_max_proto_version(client_ctx->native_handle(), max_version) == 1);
  std::vector<std::unique_ptr<TlsSession>> servers;
  servers.reserve(count);
  const std::string message(1000, 'm');
  const auto one = [&] {
    auto client = std::make_unique<TlsSession>(*client_ctx, "b.example.com");
    auto server = std::make_unique<TlsSession>(server_ctx);
    {
      Link link(*client, *server);
      link.pump();
      REQUIRE(server->handshake_done());
      REQUIRE(client->write_plaintext(bytes_of(message)));
      REQUIRE(server->write_plaintext(bytes_of(message)));
      link.pump();
      REQUIRE(link.server_got == message);
    }
    REQUIRE(server->buffered_bytes() == 0);
    return server;
  };
  one();  // warm-up: OpenSSL's lazy initialisation is not per connection
  const size_t before = heap_in_use();
  for (size_t i = 0; i < count; ++i) servers.push_back(one());
  const size_t after = heap_in_use();
  return (after - before) / count;
}

}  // namespace

TEST_CASE("an idle TLS 1.3 connection holds a few KiB and no record buffers") {
  const size_t bytes = idle_bytes_per_session(TLS1_3_VERSION, 200);
  MESSAGE("idle server-side TLS 1.3 session: " << bytes << " bytes of heap");
  CHECK(bytes < 16 * 1024);  // a 16 KiB record buffer kept would fail this on its own
}

TEST_CASE("an idle TLS 1.2 connection holds a few KiB and no record buffers") {
  const size_t bytes = idle_bytes_per_session(TLS1_2_VERSION, 200);
  MESSAGE("idle server-side TLS 1.2 session (session cache entry included): " << bytes
                                                                              << " bytes of heap");
  CHECK(bytes < 16 * 1024);
}
