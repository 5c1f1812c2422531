// The affinity cookie in a session (pools[].affinity_cookie, proxy/http/affinity_cookie.h): read at
// the request head, preferred when the backend is picked, and answered with Set-Cookie when the
// cookie was absent, invalid or named a backend that could not serve.
#include "health/backend_state.h"
#include "proxy/handshake_state.h"
#include "proxy/session.h"

namespace ringway {

void Session::read_affinity(std::span<const lb::HeaderView> headers) {
  handshake_->affinity = pool_->affinity ? pool_->affinity->lookup(headers) : http::AffinityLookup{};
}

// The cookie's backend wins over the hash (and over bounded loads: a session that lives on one
// backend cannot be balanced elsewhere) while it may take the request: up, not draining, not
// ejected, not already tried by this request.
std::optional<uint32_t> Session::affinity_pick() const {
  const HandshakeState& hs = *handshake_;
  if (hs.affinity.verdict != http::AffinityVerdict::Valid) return std::nullopt;
  const uint32_t backend = hs.affinity.backend;
  if (backend >= hs.usable.size() || hs.usable[backend] == 0) return std::nullopt;
  return backend;
}

// Called once per answer forwarded from the chosen backend: counts the result and gives the
// header lines to add to the answer's head ("" when the cookie already names this backend).
std::string Session::affinity_header_lines() {
  if (!pool_->affinity) return {};
  const http::AffinityResult result = http::affinity_result(handshake_->affinity, backend_index_);
  pool_->backends[backend_index_]->state->stats.affinity[static_cast<size_t>(result)].fetch_add(
      1, std::memory_order_relaxed);
  if (result == http::AffinityResult::Hit) return {};
  return pool_->affinity->set_cookie_line(backend_index_, client_tls() != nullptr);
}

}  // namespace ringway
