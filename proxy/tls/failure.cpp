#include "proxy/tls/failure.h"

#include <openssl/err.h>
#include <openssl/x509.h>

namespace ringway::tls {
namespace {

std::string openssl_reason(unsigned long code) {
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(code));
}

}  // namespace

FailureReport take_failure(const SSL* ssl, int ssl_error) {
  const unsigned long code = ERR_peek_error();
  ERR_clear_error();
  if (code == 0) {
    // SSL_ERROR_SYSCALL with an empty queue means EOF, which memory BIOs never report; a
    // close_notify before the handshake ended comes as SSL_ERROR_ZERO_RETURN.
    return {.kind = TlsFailure::Protocol,
            .text = ssl_error == SSL_ERROR_ZERO_RETURN ? "the peer closed during the handshake"
                                                       : "TLS error " + std::to_string(ssl_error)};
  }
  if (ERR_GET_LIB(code) != ERR_LIB_SSL) {
    return {.kind = TlsFailure::Protocol, .text = openssl_reason(code)};
  }
  const int reason = ERR_GET_REASON(code);
  switch (reason) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return {.kind = TlsFailure::PlainHttp, .text = "plain HTTP sent to a TLS port"};
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_LENGTH_TOO_SHORT:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_BAD_PACKET_LENGTH:
    case SSL_R_ENCRYPTED_LENGTH_TOO_LONG:
      if (SSL_is_init_finished(ssl) == 0) {
        return {.kind = TlsFailure::NotTls,
                .text = "not a TLS handshake (" + openssl_reason(code) + ")"};
      }
      break;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return {.kind = TlsFailure::Version,
              .text = "unsupported protocol (no TLS version in common)"};
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return {.kind = TlsFailure::NoSharedCipher,
              .text = reason == SSL_R_NO_SHARED_CIPHER ? "no shared cipher"
                                                       : "handshake failure alert from the peer "
                                                         "(no shared cipher?)"};
    case SSL_R_CERTIFICATE_VERIFY_FAILED: {
      const long result = SSL_get_verify_result(ssl);
      return {.kind = TlsFailure::Certificate,
              .text = std::string("certificate verify failed: ") +
                      X509_verify_cert_error_string(result)};
    }
    default:
      break;
  }
  // Alerts received from the peer are reasons SSL_AD_REASON_OFFSET + the alert number.
  if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
    return {.kind = TlsFailure::PeerAlert,
            .text = std::string("alert from the peer: ") +
                    SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET)};
  }
  return {.kind = TlsFailure::Protocol, .text = openssl_reason(code)};
}

}  // namespace ringway::tls
