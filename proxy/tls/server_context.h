// TLS termination for one listener: one SSL_CTX per configured certificate, the first the default,
// and SNI picking among them by the names inside the certificates. Immutable once built and safe to
// share between worker threads. A reload builds a new one; connections keep theirs (each SSL holds
// a reference to its SSL_CTX), so swapping it never disturbs an established connection.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "proxy/tls/ossl.h"

namespace ringway::tls {

// Session ticket keys (16 bytes of name, 32 of HMAC secret, 32 of AES key). One set, made at start,
// goes into every SSL_CTX of every listener and every reload, so that a ticket resumes whichever
// certificate issued it and across reloads. (Not rotated: a restart makes new ones.)
struct TicketKeys {
  std::array<uint8_t, 80> bytes{};

  static TicketKeys generate();
};

class ServerTlsContext {
 public:
  struct Built {
    std::shared_ptr<const ServerTlsContext> context;  // null on error
    std::string error;
  };

  // From a listener's validated tls block (conf/ has read and checked the PEM files).
  static Built build(const conf::ListenerTls& tls, const TicketKeys& keys);

  ServerTlsContext(const ServerTlsContext&) = delete;
  ServerTlsContext& operator=(const ServerTlsContext&) = delete;
  ~ServerTlsContext();

  // The context a new connection starts on (the default certificate's; SNI may switch it).
  [[nodiscard]] SSL_CTX* initial() const { return contexts_.front().get(); }
  // Which certificate serves `server_name`: an exact name, else a wildcard one label deep
  // ("*.example.com" for "a.example.com", not for "a.b.example.com"), else 0, the default.
  // Case-insensitive; a trailing dot is ignored. Earlier certificates win ties.
  [[nodiscard]] size_t select(std::string_view server_name) const;

  [[nodiscard]] size_t certificate_count() const { return contexts_.size(); }
  [[nodiscard]] SSL_CTX* context(size_t index) const { return contexts_[index].get(); }
  // The names read from certificate `index` (SAN DNS names, or its CN), for logs and /status.
  [[nodiscard]] std::span<const std::string> names(size_t index) const { return names_[index]; }

 private:
  ServerTlsContext() = default;
  static int on_server_name(SSL* ssl, int* alert, void* arg);

  std::vector<SslCtxPtr> contexts_;
  std::vector<std::vector<std::string>> names_;
  std::map<std::string, size_t, std::less<>> exact_;
  std::map<std::string, size_t, std::less<>> wildcard_;  // "example.com" for "*.example.com"
};

}  // namespace ringway::tls
