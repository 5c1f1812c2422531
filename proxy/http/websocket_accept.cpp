// Sec-WebSocket-Accept (RFC 6455 4.2.2): base64(SHA-1(key + GUID)), with OpenSSL's EVP interface.
#include <openssl/evp.h>

#include <array>
#include <string>

#include "proxy/http/request_head.h"

namespace ringway::http {
namespace {
constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// SHA-1, fetched from OpenSSL's providers once: with EVP_sha1(), EVP_Digest fetches it again on
// every call, which costs more than the digest itself (one per upgrade). Kept for the process's life.
const EVP_MD* sha1() {
  static const EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return fetched != nullptr ? fetched : EVP_sha1();
}
}  // namespace

std::string websocket_accept(std::string_view key) {
  std::string input;
  input.reserve(key.size() + kWebSocketGuid.size());
  input.append(key).append(kWebSocketGuid);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_size, sha1(), nullptr) != 1) {
    return {};  // never matches a backend's accept: the handshake fails with 502, not a crash
  }
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> encoded{};
  const int length = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(digest_size));
  return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<size_t>(length));
}

}  // namespace ringway::http
