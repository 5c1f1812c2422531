#include "proxy/tls/client_context.h"

#include "proxy/tls/alpn.h"
#include "proxy/tls/pem.h"

namespace ringway::tls {

ClientTlsContext::Built ClientTlsContext::build(const conf::BackendTls& tls) {
  const auto failed = [](const std::string& why) {
    return Built{.context = nullptr, .error = why};
  };
  std::shared_ptr<ClientTlsContext> built(new ClientTlsContext());
  built->verify_ = tls.verify;
  built->server_name_ = tls.server_name;
  built->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = built->ctx_.get();
  if (ctx == nullptr) {
    return failed("cannot make an SSL_CTX: " + take_openssl_error());
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Sessions are handed out with TlsSession::session_for_resumption(); none is cached here.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11.data(), kAlpnHttp11.size()) != 0) {
    return failed("cannot set ALPN: " + take_openssl_error());
  }
  if (!tls.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return {.context = std::move(built), .error = {}};
  }
  if (tls.ca_pem.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return failed("cannot load the system's trust store: " + take_openssl_error());
    }
  } else {
    const std::vector<X509Ptr> anchors = read_certificates(tls.ca_pem);
    if (anchors.empty()) {
      return failed(tls.ca_path + ": no PEM certificate");
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const X509Ptr& anchor : anchors) {
      if (X509_STORE_add_cert(store, anchor.get()) != 1) {
        return failed(tls.ca_path + ": " + take_openssl_error());
      }
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return {.context = std::move(built), .error = {}};
}

}  // namespace ringway::tls
