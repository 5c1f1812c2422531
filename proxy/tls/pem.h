// Internal to proxy/tls: certificates and keys from PEM text (conf/ has read and checked the
// files).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proxy/tls/ossl.h"

namespace ringway::tls {

// Every certificate in a PEM text, in order (a chain, leaf first, or a CA bundle).
std::vector<X509Ptr> read_certificates(std::string_view pem);

// Installs a chain (leaf first, then intermediates) and its private key in `ctx`.
// "" on success, else why not.
std::string use_certificate(SSL_CTX* ctx, std::string_view chain_pem, std::string_view key_pem);

// The DNS names a certificate serves, lowercase: its subjectAltName dNSName entries, or its subject
// CN when it has none (what clients still accept from old certificates).
std::vector<std::string> certificate_names(const X509* cert);

// OpenSSL's reason for the oldest error queued on this thread; the queue is cleared.
std::string take_openssl_error();

}  // namespace ringway::tls
