// Internal to proxy/tls: a failed handshake or record, from OpenSSL's error codes to a kind and a
// line an operator understands.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "proxy/tls/tls_session.h"

namespace ringway::tls {

struct FailureReport {
  TlsFailure kind = TlsFailure::Protocol;
  std::string text;
};

// From the oldest error queued on this thread (the queue is cleared) and the SSL_get_error result.
FailureReport take_failure(const SSL* ssl, int ssl_error);

}  // namespace ringway::tls
