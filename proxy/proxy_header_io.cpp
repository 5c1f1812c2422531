// The PROXY protocol on a session's sockets (the parser and encoders are proxy/http/proxy_header.h).
//
// Receiving (listeners[].proxy_protocol): the balancer's header comes first, before TLS and HTTP, so
// the client socket's raw bytes come here (Session::on_read) until the header is complete. Its
// source becomes the client's address for everything that follows: hashing, X-Forwarded-For, the
// per-address limit (admitted only now), logs. Then the session goes on exactly as it does right
// after accept (admit_client -> begin_client_protocol), with the bytes that followed the header in
// the same read handed to the normal path. Nothing is answered to a bad header (there is no
// protocol to answer in yet): the connection is closed with a log line.
//
// Sending (pools[].send_proxy_protocol): the header that goes first on each backend connection.
#include <uv.h>

#include <string>

#include "proxy/handshake_state.h"
#include "proxy/http/proxy_header.h"
#include "proxy/log.h"
#include "proxy/net.h"
#include "proxy/session.h"
#include "proxy/session_callbacks.h"
#include "proxy/worker.h"

namespace ringway {

// The handshake timer runs from here: header, TLS and request head share timeouts.handshake.
void Session::read_proxy_header() {
  phase_ = Phase::ReadingProxyHeader;
  arm_timer(TimerPurpose::Handshake, runtime_->config->timeouts.handshake.count());
  uv_read_start(reinterpret_cast<uv_stream_t*>(&client_), SessionCallbacks::alloc,
                SessionCallbacks::client_read);
}

void Session::on_proxy_header_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  std::string& pending = handshake_->proxy_header;
  if (nread < 0) {
    // A bare connect and close (a balancer's TCP health check) is not an error; a cut header is.
    if (pending.empty()) {
      close(CloseReason::ClientClosed);
    } else {
      fail_proxy_header("connection ended inside the PROXY header");
    }
    return;
  }
  std::span<const uint8_t> input(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread));
  if (!pending.empty()) {
    pending.append(reinterpret_cast<const char*>(input.data()), input.size());
    input = std::span(reinterpret_cast<const uint8_t*>(pending.data()), pending.size());
  }
  const proxyproto::ProxyHeaderParse parse = proxyproto::parse_proxy_header(input);
  switch (parse.status) {
    case proxyproto::ParseStatus::NeedMore:
      // The read slab is reused by the next read: a partial header is kept (bounded by the parser).
      if (pending.empty()) pending.assign(reinterpret_cast<const char*>(input.data()), input.size());
      return;
    case proxyproto::ParseStatus::Invalid:
      fail_proxy_header(parse.reason);
      return;
    case proxyproto::ParseStatus::Complete:
      break;
  }
  if (!parse.local) {
    handshake_->client_address = parse.source;
    set_client_ip(net::ip_text(parse.source));
  }
  // What followed the header: the start of the client's TLS or HTTP. `held` owns it when it was
  // in `pending`, which is released now (no buffer kept for the connection's life).
  const bool was_pending = !pending.empty();
  std::string held;
  held.swap(pending);
  const std::span<const uint8_t> rest =
      was_pending ? std::span(reinterpret_cast<const uint8_t*>(held.data()), held.size()).subspan(parse.consumed)
                  : input.subspan(parse.consumed);
  const uint64_t left_ms = worker().timers().due_in(*this);
  admit_client();
  if (phase_ == Phase::ReadingHead) arm_timer(TimerPurpose::Handshake, left_ms);  // one deadline from accept
  if (rest.empty() || phase_ == Phase::Closed || phase_ == Phase::Lingering) return;  // refused: 429
  const uv_buf_t more = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(rest.data())),
                                    static_cast<unsigned>(rest.size()));
  on_read(&client_, static_cast<ssize_t>(rest.size()), &more);
}

void Session::fail_proxy_header(std::string_view reason) {
  sockaddr_storage peer{};
  int len = sizeof peer;
  const std::string from = uv_tcp_getpeername(&client_, reinterpret_cast<sockaddr*>(&peer), &len) == 0
                               ? net::address_text(peer)
                               : std::string(client_ip());
  log::warn("bad PROXY protocol header",
            {{"client", from}, {"listener", listener_.name}, {"reason", std::string(reason)}});
  close(CloseReason::ProxyProtocol);
}

// The client's address (the real one) to ringway's address on the client connection. When that
// cannot be known, the header still goes out, as UNKNOWN/LOCAL: a backend that requires one would
// otherwise take the first bytes of the stream for it.
std::string Session::proxy_header_for_backend() const {
  sockaddr_storage local{};
  int len = sizeof local;
  if (uv_tcp_getsockname(&client_, reinterpret_cast<sockaddr*>(&local), &len) != 0) local = {};
  const sockaddr_storage& source = handshake_->client_address;
  if (pool_->config->send_proxy_protocol == conf::SendProxy::V1) return proxyproto::encode_proxy_v1(source, local);
  return proxyproto::encode_proxy_v2(source, local);
}

}  // namespace ringway
