#include "proxy/tls/server_context.h"

#include <openssl/rand.h>

#include <cctype>
#include <cstdlib>

#include "proxy/tls/alpn.h"
#include "proxy/tls/pem.h"

namespace ringway::tls {
namespace {

// Same on every SSL_CTX of the set: SSL_set_SSL_CTX (the SNI switch) copies it to the connection,
// and a session only resumes under the context id it was made in.
constexpr std::string_view kSessionIdContext = "ringway";
constexpr size_t kMaxServerName = 253;

// Offers http/1.1 when the client asks for it; a client that asks only for other protocols (h2)
// goes on without ALPN rather than failing, as HAProxy does.
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void* /*arg*/) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, out_length, kAlpnHttp11.data(), kAlpnHttp11.size(), offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

std::string configure(SSL_CTX* ctx, conf::TlsVersion min_version, const TicketKeys& keys) {
  const int version = min_version == conf::TlsVersion::Tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, version) != 1) {
    return "cannot set the minimum version: " + take_openssl_error();
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // An idle connection keeps no 16 KiB record buffers: OpenSSL frees them when they empty.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_id_context(ctx,
                                 reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
                                 kSessionIdContext.size());
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  if (SSL_CTX_set_tlsext_ticket_keys(ctx, const_cast<uint8_t*>(keys.bytes.data()),
                                     keys.bytes.size()) != 1) {
    return "cannot set the session ticket keys: " + take_openssl_error();
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  return {};
}

}  // namespace

TicketKeys TicketKeys::generate() {
  TicketKeys keys;
  if (RAND_bytes(keys.bytes.data(), static_cast<int>(keys.bytes.size())) != 1) {
    // Without randomness no key material can be made at all; there is no sane way on.
    std::abort();
  }
  return keys;
}

ServerTlsContext::Built ServerTlsContext::build(const conf::ListenerTls& tls,
                                                const TicketKeys& keys) {
  if (tls.certificates.empty()) {
    return {.context = nullptr, .error = "no certificate"};
  }
  std::shared_ptr<ServerTlsContext> built(new ServerTlsContext());
  for (size_t i = 0; i < tls.certificates.size(); ++i) {
    const conf::TlsCertificate& source = tls.certificates[i];
    const auto failed = [&](const std::string& why) {
      return Built{.context = nullptr, .error = source.cert_path + ": " + why};
    };
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
      return failed("cannot make an SSL_CTX: " + take_openssl_error());
    }
    if (std::string why = configure(ctx.get(), tls.min_version, keys); !why.empty()) {
      return failed(why);
    }
    if (std::string why = use_certificate(ctx.get(), source.cert_pem, source.key_pem);
        !why.empty()) {
      return failed(why);
    }
    std::vector<std::string> names = certificate_names(SSL_CTX_get0_certificate(ctx.get()));
    for (const std::string& name : names) {
      if (name.starts_with("*.")) {
        built->wildcard_.emplace(name.substr(2), i);  // emplace keeps an earlier certificate's
      } else if (name.find('*') == std::string::npos) {
        built->exact_.emplace(name, i);
      }
    }
    built->names_.push_back(std::move(names));
    built->contexts_.push_back(std::move(ctx));
  }
  // Only the initial context sees the ClientHello's server name, and it may switch to another.
  SSL_CTX_set_tlsext_servername_callback(built->initial(), on_server_name);
  SSL_CTX_set_tlsext_servername_arg(built->initial(), built.get());
  return {.context = std::move(built), .error = {}};
}

ServerTlsContext::~ServerTlsContext() {
  // Connections may outlive this object (their SSL holds the SSL_CTX); they are past the
  // ClientHello.
  if (!contexts_.empty()) {
    SSL_CTX_set_tlsext_servername_arg(initial(), nullptr);
  }
}

size_t ServerTlsContext::select(std::string_view server_name) const {
  if (server_name.ends_with('.')) {
    server_name.remove_suffix(1);
  }
  if (server_name.empty() || server_name.size() > kMaxServerName) {
    return 0;
  }
  std::array<char, kMaxServerName> buffer{};
  for (size_t i = 0; i < server_name.size(); ++i) {
    buffer[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(server_name[i])));
  }
  const std::string_view name(buffer.data(), server_name.size());
  if (const auto exact = exact_.find(name); exact != exact_.end()) {
    return exact->second;
  }
  const size_t dot = name.find('.');
  if (dot != 0 && dot != std::string_view::npos) {
    if (const auto wild = wildcard_.find(name.substr(dot + 1)); wild != wildcard_.end()) {
      return wild->second;
    }
  }
  return 0;
}

int ServerTlsContext::on_server_name(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const ServerTlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (self == nullptr || name == nullptr) {
    return SSL_TLSEXT_ERR_NOACK;  // no name sent: the default certificate
  }
  const size_t index = self->select(name);
  if (index != 0) {
    SSL_set_SSL_CTX(ssl, self->context(index));
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace ringway::tls
