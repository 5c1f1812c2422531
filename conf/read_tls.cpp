// listeners[].tls: {certificates: [{cert, key}], min_version} and pools[].backend_tls: {ca, verify,
// server_name}. The files are read here and parsed with OpenSSL, so that `--check` reports a
// missing file, a file that is not PEM or a key that does not belong to its certificate at the YAML
// entry that names it, instead of the first handshake failing later.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "conf/sections.h"
#include "conf/values.h"

namespace ringway::conf {
namespace {

constexpr std::array<std::string_view, 2> kTlsKeys = {"certificates", "min_version"};
constexpr std::array<std::string_view, 2> kCertificateKeys = {"cert", "key"};
constexpr std::array<std::string_view, 3> kBackendTlsKeys = {"ca", "verify", "server_name"};
// Certificate chains and keys are a few KiB; a bigger file is a wrong path (or /dev/zero).
constexpr std::size_t kMaxPemFile = std::size_t{1024} * 1024;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct FileClose {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

// The whole file, or nullopt with the error reported at `field` (which holds the path).
std::optional<std::string> read_file(const Field& field, const std::string& path,
                                     Diagnostics& diag) {
  const auto fail = [&](const std::string& why) {
    diag.error(field.value(), field.name() + ": cannot read " + quoted(path) + ": " + why);
    return std::nullopt;
  };
  const std::unique_ptr<std::FILE, FileClose> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return fail(std::strerror(errno));
  }
  std::string text;
  std::array<char, 4096> chunk{};
  std::size_t got = 0;
  while ((got = std::fread(chunk.data(), 1, chunk.size(), file.get())) > 0) {
    text.append(chunk.data(), got);
    if (text.size() > kMaxPemFile) {
      return fail("larger than 1 MiB, too large for PEM certificates or keys");
    }
  }
  if (std::ferror(file.get()) != 0) {
    return fail(std::strerror(errno));  // a directory fails here (EISDIR)
  }
  return text;
}

std::unique_ptr<BIO, BioFree> memory_bio(const std::string& text) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate in a PEM text, in order.
std::vector<std::unique_ptr<X509, X509Free>> pem_certificates(const std::string& text) {
  std::vector<std::unique_ptr<X509, X509Free>> certs;
  const auto bio = memory_bio(text);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the read that ends the loop always fails ("no start line")
  return certs;
}

// Encrypted keys would need a passphrase at every start and reload: refused.
int refuse_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return -1;
}

std::unique_ptr<EVP_PKEY, KeyFree> pem_private_key(const std::string& text) {
  const auto bio = memory_bio(text);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  ERR_clear_error();
  return key;
}

// certificates[i]: {cert, key}. Both files are read; the key must match the first certificate.
void read_certificate(const Field& item, TlsCertificate& out, Diagnostics& diag) {
  MapReader map(item, kCertificateKeys, diag);
  if (!map.is_map()) {
    return;
  }
  const auto cert_field = map.require("cert");
  const auto key_field = map.require("key");
  std::unique_ptr<X509, X509Free> leaf;
  if (cert_field) {
    assign(read_string(*cert_field, diag), out.cert_path);
  }
  if (!out.cert_path.empty()) {
    if (auto text = read_file(*cert_field, out.cert_path, diag)) {
      auto chain = pem_certificates(*text);
      if (chain.empty()) {
        diag.error(cert_field->value(),
                   cert_field->name() + ": " + quoted(out.cert_path) +
                       " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
      } else {
        leaf = std::move(chain.front());
        out.cert_pem = std::move(*text);
      }
    }
  }
  if (key_field) {
    assign(read_string(*key_field, diag), out.key_path);
  }
  if (out.key_path.empty()) {
    return;
  }
  auto text = read_file(*key_field, out.key_path, diag);
  if (!text) {
    return;
  }
  const auto key = pem_private_key(*text);
  if (!key) {
    const bool encrypted = text->find("ENCRYPTED") != std::string::npos;
    diag.error(key_field->value(),
               key_field->name() + ": " + quoted(out.key_path) +
                   (encrypted ? " is an encrypted key (ringway needs it unencrypted)"
                              : " holds no PEM private key (-----BEGIN PRIVATE KEY-----)"));
    return;
  }
  if (leaf && X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    diag.error(key_field->value(), key_field->name() + ": " + quoted(out.key_path) +
                                       " does not match the certificate in " +
                                       quoted(out.cert_path));
    return;
  }
  out.key_pem = std::move(*text);
}

void read_min_version(const Field& field, TlsVersion& out, Diagnostics& diag) {
  // Quoted or not: YAML reads an unquoted 1.2 as the scalar "1.2" all the same.
  const std::string text = field.node.IsScalar() ? field.node.Scalar() : std::string();
  if (text == "1.2") {
    out = TlsVersion::Tls12;
  } else if (text == "1.3") {
    out = TlsVersion::Tls13;
  } else {
    type_error(field, R"("1.2" or "1.3")", diag);
  }
}

// A DNS name for SNI and verification: letters, digits, '-' and '.', no wildcard.
bool is_server_name(std::string_view name) {
  const auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.';
  };
  return !name.empty() && name.size() <= 253 && !name.starts_with('.') && !name.ends_with('.') &&
         name.find("..") == std::string_view::npos && std::ranges::all_of(name, is_name_char);
}

}  // namespace

ListenerTls read_listener_tls(const Field& field, Diagnostics& diag) {
  ListenerTls out;
  MapReader map(field, kTlsKeys, diag);
  if (!map.is_map()) {
    return out;
  }
  if (const auto certificates = map.require("certificates")) {
    const auto items = list_items(*certificates, diag);
    if (items.empty() && (certificates->node.IsNull() || certificates->node.IsSequence())) {
      diag.error(certificates->value(),
                 certificates->name() + ": expected at least one certificate");
    }
    for (const Field& item : items) {
      read_certificate(item, out.certificates.emplace_back(), diag);
    }
  }
  if (const auto min_version = map.get("min_version")) {
    read_min_version(*min_version, out.min_version, diag);
  }
  return out;
}

BackendTls read_backend_tls(const Field& field, Diagnostics& diag) {
  BackendTls out;
  MapReader map(field, kBackendTlsKeys, diag, true);
  if (!map.is_map()) {
    return out;
  }
  if (const auto ca = map.get("ca")) {
    assign(read_string(*ca, diag), out.ca_path);
    if (!out.ca_path.empty()) {
      if (auto text = read_file(*ca, out.ca_path, diag)) {
        if (pem_certificates(*text).empty()) {
          diag.error(ca->value(), ca->name() + ": " + quoted(out.ca_path) +
                                      " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        } else {
          out.ca_pem = std::move(*text);
        }
      }
    }
  }
  if (const auto verify = map.get("verify")) {
    assign(read_bool(*verify, diag), out.verify);
  }
  if (const auto server_name = map.get("server_name")) {
    const std::string text = server_name->node.IsScalar() ? server_name->node.Scalar() : "";
    if (is_server_name(text)) {
      out.server_name = text;
    } else {
      type_error(*server_name, R"(a host name such as "chat.internal")", diag);
    }
  }
  return out;
}

}  // namespace ringway::conf
