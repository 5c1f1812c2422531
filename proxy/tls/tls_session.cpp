#include "proxy/tls/tls_session.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "proxy/tls/client_context.h"
#include "proxy/tls/failure.h"
#include "proxy/tls/server_context.h"

namespace ringway::tls {
namespace {

// Room reserved in the ciphertext queue per record, beyond its plaintext: the header, the AEAD tag,
// the TLS 1.3 content type or the TLS 1.2 explicit nonce. (CBC may need more; the queue then
// grows.)
constexpr size_t kRecordOverhead = 32;
constexpr size_t kMaxRecordPlaintext = 16384;

bool is_ip_address(const std::string& host) {
  const ASN1_OCTET_STRING* parsed = a2i_IPADDRESS(host.c_str());
  if (parsed == nullptr) {
    ERR_clear_error();
    return false;
  }
  ASN1_OCTET_STRING_free(const_cast<ASN1_OCTET_STRING*>(parsed));
  return true;
}

}  // namespace

// A source/sink BIO over the session's queues: writes append to out_, reads take from in_ and then
// from the caller's buffer. Unlike BIO_s_mem it reads the caller's bytes in place and keeps no
// storage once drained.
struct TlsSession::Io {
  static BIO_METHOD* method() {
    static BIO_METHOD* const kMethod = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringway tls");
      BIO_meth_set_write_ex(m, write);
      BIO_meth_set_read_ex(m, read);
      BIO_meth_set_ctrl(m, ctrl);
      BIO_meth_set_create(m, [](BIO* bio) {
        BIO_set_init(bio, 1);
        return 1;
      });
      return m;
    }();
    return kMethod;
  }

  static TlsSession& session(BIO* bio) { return *static_cast<TlsSession*>(BIO_get_data(bio)); }

  static int write(BIO* bio, const char* data, size_t size, size_t* written) {
    session(bio).out_.append(std::span(reinterpret_cast<const uint8_t*>(data), size));
    *written = size;
    return 1;
  }

  static int read(BIO* bio, char* data, size_t size, size_t* read_bytes) {
    BIO_clear_retry_flags(bio);
    TlsSession& self = session(bio);
    auto* out = reinterpret_cast<uint8_t*>(data);
    size_t got = std::min(size, self.in_.size());
    if (got != 0) {
      std::memcpy(out, self.in_.data().data(), got);
      self.in_.consume(got);
    }
    const size_t direct = std::min(size - got, self.borrowed_.size());
    if (direct != 0) {
      std::memcpy(out + got, self.borrowed_.data(), direct);
      self.borrowed_ = self.borrowed_.subspan(direct);
      got += direct;
    }
    if (got == 0) {
      BIO_set_retry_read(bio);  // no more now: OpenSSL reports SSL_ERROR_WANT_READ
      return 0;
    }
    *read_bytes = got;
    return 1;
  }

  static long ctrl(BIO* bio, int command, long /*number*/, void* /*pointer*/) {
    switch (command) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_PENDING:
        return static_cast<long>(session(bio).in_.size() + session(bio).borrowed_.size());
      case BIO_CTRL_WPENDING:
        return static_cast<long>(session(bio).out_.size());
      default:
        return 0;
    }
  }
};

TlsSession::TlsSession(std::shared_ptr<const ServerTlsContext> context)
    : server_(std::move(context)) {
  ssl_.reset(SSL_new(server_->initial()));
  if (!ssl_) {
    fail_with(TlsFailure::Protocol, "out of memory for a TLS connection");
    return;
  }
  attach_bio();
  SSL_set_accept_state(ssl_.get());
}

TlsSession::TlsSession(const ClientTlsContext& context, std::string_view host,
                       SSL_SESSION* resume) {
  ssl_.reset(SSL_new(context.native_handle()));
  if (!ssl_) {
    fail_with(TlsFailure::Protocol, "out of memory for a TLS connection");
    return;
  }
  attach_bio();
  SSL_set_connect_state(ssl_.get());
  const std::string name =
      context.server_name().empty() ? std::string(host) : context.server_name();
  const bool address = is_ip_address(name);
  if (!address && !name.empty()) {
    SSL_set_tlsext_host_name(ssl_.get(), name.c_str());
  }
  if (context.verify() && !name.empty()) {
    const int set = address
                        ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), name.c_str())
                        : SSL_set1_host(ssl_.get(), name.c_str());
    if (set != 1) {
      fail_with(TlsFailure::Protocol, "cannot verify the name " + name);
      return;
    }
  }
  if (resume != nullptr) {
    SSL_set_session(ssl_.get(), resume);
  }
  advance_handshake();  // the ClientHello
}

TlsSession::~TlsSession() {
  // OpenSSL treats a connection freed without close_notify as broken and makes its session
  // unresumable (RFC 2246's old rule), but WebSockets routinely end with a Close frame and a FIN.
  // A connection that did not fail ends cleanly as far as resumption goes, as nginx does it.
  if (ssl_ && handshake_done()) {
    SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
}

void TlsSession::attach_bio() {
  BIO* bio = BIO_new(Io::method());
  if (bio == nullptr) {
    ssl_.reset();
    fail_with(TlsFailure::Protocol, "out of memory for a TLS connection");
    return;
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by the SSL
}

void TlsSession::feed_ciphertext(std::span<const uint8_t> bytes) {
  if (state_ == TlsState::Failed || state_ == TlsState::PeerClosed || bytes.empty()) {
    return;  // nothing more is read: what comes after an end is ignored
  }
  if (!borrowed_.empty()) {
    // The previous buffer was not drained with read_plaintext() and may be overwritten by now.
    fail_with(TlsFailure::Protocol, "internal: ciphertext fed before the previous was read");
    return;
  }
  borrowed_ = bytes;
  if (state_ == TlsState::Handshaking) {
    advance_handshake();
  }
  if (state_ == TlsState::Handshaking) {
    keep_unread_input();  // normally nothing: OpenSSL takes all it can before wanting more
  }
}

size_t TlsSession::read_plaintext(std::span<uint8_t> out) {
  size_t total = 0;
  while (state_ == TlsState::Open && total < out.size()) {
    ERR_clear_error();
    size_t got = 0;
    if (SSL_read_ex(ssl_.get(), out.data() + total, out.size() - total, &got) == 1) {
      total += got;
      continue;
    }
    const int error = SSL_get_error(ssl_.get(), 0);
    if (error == SSL_ERROR_WANT_READ) {
      break;
    }
    if (error == SSL_ERROR_ZERO_RETURN) {
      state_ = TlsState::PeerClosed;
      borrowed_ = {};
      in_.clear();
      break;
    }
    fail(error);
  }
  if (total < out.size()) {
    keep_unread_input();  // stopped for want of input (or at an end): the caller's buffer may go
  }
  return total;
}

bool TlsSession::write_plaintext(std::span<const uint8_t> bytes) {
  if (state_ == TlsState::Failed || shutdown_sent_) {
    return false;
  }
  if (state_ == TlsState::Handshaking) {
    early_.append(bytes);
    return true;
  }
  return write_now(bytes);
}

bool TlsSession::write_now(std::span<const uint8_t> bytes) {
  if (bytes.empty()) {
    return true;
  }
  const size_t records = (bytes.size() + kMaxRecordPlaintext - 1) / kMaxRecordPlaintext;
  out_.reserve(bytes.size() + records * kRecordOverhead);  // one allocation for the whole write
  while (!bytes.empty()) {
    ERR_clear_error();
    size_t written = 0;
    if (SSL_write_ex(ssl_.get(), bytes.data(), bytes.size(), &written) != 1) {
      fail(SSL_get_error(ssl_.get(), 0));
      return false;
    }
    bytes = bytes.subspan(written);
  }
  return true;
}

void TlsSession::shutdown() {
  if (shutdown_sent_ || !handshake_done()) {
    return;
  }
  shutdown_sent_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // 0: sent, the peer's not seen yet; 1: both; either way it is queued
  ERR_clear_error();
}

void TlsSession::advance_handshake() {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_.get());
  if (result == 1) {
    state_ = TlsState::Open;
    server_.reset();  // SNI is done: the SSL keeps its own SSL_CTX alive
    if (!early_.empty()) {
      const std::span<const uint8_t> queued = early_.data();
      const bool sent = write_now(queued);
      early_.clear();
      (void)sent;  // a failure is in state_
    }
    return;
  }
  const int error = SSL_get_error(ssl_.get(), result);
  if (error != SSL_ERROR_WANT_READ) {
    fail(error);
  }
}

void TlsSession::fail(int ssl_error) {
  FailureReport report = take_failure(ssl_.get(), ssl_error);
  fail_with(report.kind, std::move(report.text));
}

void TlsSession::fail_with(TlsFailure failure, std::string reason) {
  state_ = TlsState::Failed;
  failure_ = failure;
  error_ = std::move(reason);
  server_.reset();
  borrowed_ = {};
  in_.clear();
  early_.clear();
}

void TlsSession::keep_unread_input() {
  if (borrowed_.empty()) {
    return;
  }
  if (state_ == TlsState::Failed || state_ == TlsState::PeerClosed) {
    borrowed_ = {};
    return;
  }
  in_.append(borrowed_);
  borrowed_ = {};
}

std::string_view TlsSession::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  if (ssl_) {
    SSL_get0_alpn_selected(ssl_.get(), &data, &size);
  }
  return data == nullptr ? std::string_view()
                         : std::string_view(reinterpret_cast<const char*>(data), size);
}

std::string_view TlsSession::server_name() const {
  const char* name = ssl_ ? SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name) : nullptr;
  return name == nullptr ? std::string_view() : std::string_view(name);
}

std::string_view TlsSession::version() const {
  return handshake_done() ? SSL_get_version(ssl_.get()) : "";
}

std::string_view TlsSession::cipher() const {
  const char* name = handshake_done() ? SSL_get_cipher_name(ssl_.get()) : nullptr;
  return name == nullptr ? std::string_view() : std::string_view(name);
}

bool TlsSession::resumed() const { return ssl_ && SSL_session_reused(ssl_.get()) == 1; }

const X509* TlsSession::peer_certificate() const {
  return ssl_ ? SSL_get0_peer_certificate(ssl_.get()) : nullptr;
}

SslSessionPtr TlsSession::session_for_resumption() const {
  if (!handshake_done()) {
    return nullptr;
  }
  SslSessionPtr session(SSL_get1_session(ssl_.get()));
  if (session && SSL_SESSION_is_resumable(session.get()) != 1) {
    session.reset();
  }
  return session;
}

}  // namespace ringway::tls
