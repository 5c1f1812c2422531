// TLS toward a pool's backends (pools[].backend_tls): one SSL_CTX with the pool's trust anchors.
// Immutable once built, shareable between worker threads; a reload builds a new one.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "conf/config.h"
#include "proxy/tls/ossl.h"

namespace ringway::tls {

class ClientTlsContext {
 public:
  struct Built {
    std::shared_ptr<const ClientTlsContext> context;  // null on error
    std::string error;
  };

  // `tls.ca_pem` empty: the system's default trust store (when verifying).
  static Built build(const conf::BackendTls& tls);

  ClientTlsContext(const ClientTlsContext&) = delete;
  ClientTlsContext& operator=(const ClientTlsContext&) = delete;
  ~ClientTlsContext() = default;

  [[nodiscard]] bool verify() const { return verify_; }
  // SNI and the name verified; "" = each connection's backend host.
  [[nodiscard]] const std::string& server_name() const { return server_name_; }
  // For tests that need an odd client (an old version, one cipher).
  [[nodiscard]] SSL_CTX* native_handle() const { return ctx_.get(); }

 private:
  ClientTlsContext() = default;

  SslCtxPtr ctx_;
  bool verify_ = true;
  std::string server_name_;
};

}  // namespace ringway::tls
