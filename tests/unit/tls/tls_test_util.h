// Helpers for the TLS tests: contexts from the test PKI, and a link that carries ciphertext between
// a client TlsSession and a server TlsSession in memory, split at random sizes when asked.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "conf/config.h"
#include "proxy/tls/client_context.h"
#include "proxy/tls/pem.h"
#include "proxy/tls/server_context.h"
#include "proxy/tls/tls_session.h"
#include "test_pki.h"

namespace ringway::tls::test {

inline conf::TlsCertificate certificate(const std::string& name) {
  const TestPki& pki = TestPki::get();
  return conf::TlsCertificate{.cert_path = pki.path(name + ".crt"),
                              .key_path = pki.path(name + ".key"),
                              .cert_pem = pki.read(name + ".crt"),
                              .key_pem = pki.read(name + ".key")};
}

inline const TicketKeys& ticket_keys() {
  static const TicketKeys keys = TicketKeys::generate();
  return keys;
}

// A listener's context with these certificates (names from the test PKI), the first the default.
inline std::shared_ptr<const ServerTlsContext> server_context(
    std::initializer_list<const char*> names, conf::TlsVersion min = conf::TlsVersion::Tls12,
    const TicketKeys& keys = ticket_keys()) {
  conf::ListenerTls tls;
  for (const char* name : names) tls.certificates.push_back(certificate(name));
  tls.min_version = min;
  auto built = ServerTlsContext::build(tls, keys);
  if (!built.context) throw std::runtime_error("server context: " + built.error);
  return built.context;
}

inline std::shared_ptr<const ClientTlsContext> client_context(const std::string& ca_name,
                                                              bool verify = true,
                                                              const std::string& server_name = "") {
  conf::BackendTls tls;
  if (!ca_name.empty()) {
    tls.ca_path = TestPki::get().path(ca_name + ".crt");
    tls.ca_pem = TestPki::get().read(ca_name + ".crt");
  }
  tls.verify = verify;
  tls.server_name = server_name;
  auto built = ClientTlsContext::build(tls);
  if (!built.context) throw std::runtime_error("client context: " + built.error);
  return built.context;
}

// A client that checks nothing: for tests about what the server does.
inline std::shared_ptr<const ClientTlsContext> lax_client() { return client_context("", false); }

inline std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Carries ciphertext both ways until neither side has anything to send. Whatever each side decrypts
// is appended to client_got / server_got. With a generator, every feed and every read buffer has a
// random size from 1 to max_chunk.
class Link {
 public:
  Link(TlsSession& client, TlsSession& server, std::mt19937* random = nullptr,
       size_t max_chunk = 64 * 1024)
      : client_(client), server_(server), random_(random), max_chunk_(max_chunk) {}

  void pump() {
    for (int rounds = 0; rounds < 10000; ++rounds) {
      const bool moved = carry(client_, server_, server_got) | carry(server_, client_, client_got);
      if (!moved) return;
    }
    throw std::runtime_error("the link never went quiet");
  }

  std::string client_got;
  std::string server_got;

 private:
  size_t chunk() {
    if (random_ == nullptr) return max_chunk_;
    return std::uniform_int_distribution<size_t>(1, max_chunk_)(*random_);
  }

  // Moves what `from` has to send into `to`, as a socket would, in pieces. true if anything moved.
  bool carry(TlsSession& from, TlsSession& to, std::string& got) {
    bool moved = false;
    while (!from.pending_ciphertext().empty()) {
      // The "slab": a copy that is overwritten after each piece, like the per-loop read buffer.
      const auto pending = from.pending_ciphertext();
      const size_t take = std::min(chunk(), pending.size());
      slab_.assign(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(take));
      from.consume_ciphertext(take);
      to.feed_ciphertext(slab_);
      for (;;) {
        scratch_.resize(chunk());
        const size_t n = to.read_plaintext(scratch_);
        if (n == 0) break;
        got.append(reinterpret_cast<const char*>(scratch_.data()), n);
      }
      std::fill(slab_.begin(), slab_.end(), 0xEE);  // reused: anything still pointing here breaks
      moved = true;
    }
    return moved;
  }

  TlsSession& client_;
  TlsSession& server_;
  std::mt19937* random_;
  size_t max_chunk_;
  std::vector<uint8_t> slab_;
  std::vector<uint8_t> scratch_;
};

// The names in the certificate the peer presented.
inline std::vector<std::string> peer_names(const TlsSession& session) {
  const X509* cert = session.peer_certificate();
  return cert == nullptr ? std::vector<std::string>{} : certificate_names(cert);
}

}  // namespace ringway::tls::test
