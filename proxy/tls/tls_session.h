// One TLS connection, server side (a client of a TLS listener) or client side (toward a backend),
// driven entirely in memory: no socket, no libuv. The owner moves bytes between the socket and this
// object, so the relay, backpressure and frame tracking work over TLS as they do over plain TCP:
//
//   on read:   feed_ciphertext(bytes from the slab);
//              while ((n = read_plaintext(scratch)) != 0) { handle scratch.first(n) }
//              then flush pending_ciphertext() (handshake replies, alerts, key updates),
//              then look at state(): Failed -> close with error(); PeerClosed -> like EOF.
//   on write:  write_plaintext(bytes); flush pending_ciphertext().
//   to close:  shutdown(); flush pending_ciphertext(); close the socket.
//   flush:     uv_try_write(pending_ciphertext()); consume_ciphertext(what the kernel took);
//              copy the rest where the plain path keeps unsent bytes, and consume it too.
//
// Memory: nothing is buffered here while idle. Ciphertext waiting to be sent lives in a queue
// that frees its storage when emptied; incoming ciphertext is read in place from the caller's
// buffer; OpenSSL's own record buffers are released between records (SSL_MODE_RELEASE_BUFFERS).
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "proxy/tls/byte_queue.h"
#include "proxy/tls/ossl.h"

namespace ringway::tls {

class ServerTlsContext;
class ClientTlsContext;

enum class TlsState : uint8_t {
  Handshaking,  // no plaintext yet
  Open,         // plaintext flows both ways
  PeerClosed,   // the peer sent close_notify: no more plaintext comes (we may still write)
  Failed,       // see failure() and error(); nothing more in or out, but pending_ciphertext()
                // may hold an alert worth one try_write before the socket closes
};

// Why a connection failed, for the log line (error() has the detail).
enum class TlsFailure : uint8_t {
  None,
  PlainHttp,       // an HTTP request on a TLS port
  NotTls,          // bytes that are not a TLS record (a port scanner, garbage)
  Version,         // no protocol version in common (e.g. TLS 1.1 against min_version 1.2)
  NoSharedCipher,  // no cipher suite (or certificate type) in common
  Certificate,     // client side: the backend's certificate failed verification
  PeerAlert,       // the peer ended the handshake with an alert
  Protocol,        // anything else: a bad record, a decryption failure, a misuse
};

class TlsSession {
 public:
  // Server side: a connection accepted on a TLS listener. The context is held until the handshake
  // is over (SNI needs it); afterwards the SSL keeps only its own SSL_CTX.
  explicit TlsSession(std::shared_ptr<const ServerTlsContext> context);
  // Client side, toward a backend. `host` (the backend address's host) is used for SNI and name
  // verification unless the context has a server_name; an IP address is verified as an address and
  // sends no SNI. `resume`: a session saved from an earlier connection to the same backend, or
  // null. The ClientHello is ready in pending_ciphertext() on return.
  TlsSession(const ClientTlsContext& context, std::string_view host, SSL_SESSION* resume = nullptr);
  ~TlsSession();

  // The BIO points at this object: it never moves (hold it in a std::optional or a unique_ptr).
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;
  TlsSession(TlsSession&&) = delete;
  TlsSession& operator=(TlsSession&&) = delete;

  // Ciphertext read from the socket. It is read in place: call read_plaintext() until it returns 0
  // before `bytes` is reused (what OpenSSL has not taken by then is copied). Advances the
  // handshake.
  void feed_ciphertext(std::span<const uint8_t> bytes);
  // Decrypts into `out`: the number of bytes written, 0 when nothing more is available now (then
  // state() says whether more may come). Fills `out` before returning when enough input is there.
  size_t read_plaintext(std::span<uint8_t> out);
  // Encrypts `bytes` into pending_ciphertext() (client side, before the handshake is done, they
  // wait for it). false when nothing can be sent any more: failed, or after shutdown().
  bool write_plaintext(std::span<const uint8_t> bytes);

  // Ciphertext to send: handshake messages, records, alerts, close_notify.
  [[nodiscard]] std::span<const uint8_t> pending_ciphertext() const { return out_.data(); }
  // After the socket took `count` bytes of pending_ciphertext(); storage is freed when it empties.
  void consume_ciphertext(size_t count) { out_.consume(count); }

  // Queues a close_notify (once, and only after the handshake). Nothing can be written afterwards.
  void shutdown();

  [[nodiscard]] TlsState state() const { return state_; }
  [[nodiscard]] bool handshake_done() const {
    return state_ == TlsState::Open || state_ == TlsState::PeerClosed;
  }
  [[nodiscard]] TlsFailure failure() const { return failure_; }
  // One line for the log: "plain HTTP sent to a TLS port", "no shared cipher", ... ("" if none).
  [[nodiscard]] std::string_view error() const { return error_; }

  // After the handshake: what was negotiated.
  [[nodiscard]] std::string_view alpn() const;         // "http/1.1" or ""
  [[nodiscard]] std::string_view server_name() const;  // the SNI sent or received, or ""
  [[nodiscard]] std::string_view version() const;      // "TLSv1.3"
  [[nodiscard]] std::string_view cipher() const;       // "TLS_AES_128_GCM_SHA256"
  [[nodiscard]] bool resumed() const;                  // an abbreviated handshake (ticket or cache)
  [[nodiscard]] const X509* peer_certificate() const;  // the certificate the peer presented
  // Client side: the session to offer on the next connection to this backend, or null when none
  // can resume (with TLS 1.3 it arrives after the handshake, with the first records read).
  [[nodiscard]] SslSessionPtr session_for_resumption() const;

  // Bytes held by this object's own queues (not OpenSSL's): 0 when idle.
  [[nodiscard]] size_t buffered_bytes() const {
    return in_.capacity() + out_.capacity() + early_.capacity();
  }

 private:
  struct Io;  // the BIO's callbacks

  void attach_bio();
  void advance_handshake();
  // Records the reason for the SSL_get_error() result `ssl_error` and enters Failed.
  void fail(int ssl_error);
  void fail_with(TlsFailure failure, std::string reason);
  // Input OpenSSL has not taken yet moves from the caller's buffer into in_.
  void keep_unread_input();
  bool write_now(std::span<const uint8_t> bytes);

  SslPtr ssl_;
  std::shared_ptr<const ServerTlsContext> server_;  // server side, until the handshake is done
  std::span<const uint8_t> borrowed_;  // fed and not yet read by OpenSSL (the caller's buffer)
  ByteQueue in_;                       // fed, left unread when the caller's buffer went away
  ByteQueue out_;                      // ciphertext to send
  ByteQueue early_;                    // client side: plaintext written before the handshake ended
  std::string error_;
  TlsState state_ = TlsState::Handshaking;
  TlsFailure failure_ = TlsFailure::None;
  bool shutdown_sent_ = false;
};

}  // namespace ringway::tls
