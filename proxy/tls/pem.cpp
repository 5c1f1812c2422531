#include "proxy/tls/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

namespace ringway::tls {
namespace {

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return out;
}

std::string_view view(const ASN1_STRING* text) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
          static_cast<size_t>(ASN1_STRING_length(text))};
}

int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

}  // namespace

std::vector<X509Ptr> read_certificates(std::string_view pem) {
  std::vector<X509Ptr> certs;
  const BioPtr bio = memory_bio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the read that ends the loop always fails
  return certs;
}

std::string use_certificate(SSL_CTX* ctx, std::string_view chain_pem, std::string_view key_pem) {
  std::vector<X509Ptr> chain = read_certificates(chain_pem);
  if (chain.empty()) {
    return "no PEM certificate";
  }
  if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1) {
    return "certificate refused: " + take_openssl_error();
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      return "intermediate certificate refused: " + take_openssl_error();
    }
  }
  const BioPtr bio = memory_bio(key_pem);
  const PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return "no PEM private key: " + take_openssl_error();
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return "the key does not match the certificate: " + take_openssl_error();
  }
  return {};
}

std::vector<std::string> certificate_names(const X509* cert) {
  std::vector<std::string> names;
  auto* alt_names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (alt_names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alt_names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt_names, i);
      if (name->type == GEN_DNS) {
        names.push_back(lowercase(view(name->d.dNSName)));
      }
    }
    GENERAL_NAMES_free(alt_names);
  }
  if (names.empty()) {
    const X509_NAME* subject = X509_get_subject_name(cert);
    const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
      names.push_back(lowercase(view(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)))));
    }
  }
  return names;
}

std::string take_openssl_error() {
  const unsigned long code = ERR_peek_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown error";
  }
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "error " + std::to_string(code);
}

}  // namespace ringway::tls
