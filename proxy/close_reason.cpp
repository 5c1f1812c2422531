#include "proxy/close_reason.h"

namespace ringway {

const char* to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::None: return "none";
    case CloseReason::ClientClosed: return "client_closed";
    case CloseReason::BackendClosed: return "backend_closed";
    case CloseReason::BackendVanished: return "backend_vanished";
    case CloseReason::ClientError: return "client_error";
    case CloseReason::BadRequest: return "bad_request";
    case CloseReason::HandshakeTimeout: return "handshake_timeout";
    case CloseReason::NoBackend: return "no_backend";
    case CloseReason::ConnectFailed: return "connect_failed";
    case CloseReason::BadUpstreamResponse: return "bad_upstream_response";
    case CloseReason::UpstreamTimeout: return "upstream_timeout";
    case CloseReason::Rejected: return "rejected";
    case CloseReason::Protocol: return "protocol";
    case CloseReason::TooBig: return "too_big";
    case CloseReason::Overloaded: return "overloaded";
    case CloseReason::Shutdown: return "shutdown";
    case CloseReason::RateLimited: return "rate_limited";
    case CloseReason::IdleTimeout: return "idle_timeout";
    case CloseReason::PingTimeout: return "ping_timeout";
    case CloseReason::TooManyPerIp: return "too_many_per_ip";
    case CloseReason::Tls: return "tls";
    case CloseReason::BackendTls: return "backend_tls";
    case CloseReason::ProxyProtocol: return "proxy_protocol";
    case CloseReason::LingerTimeout: return "linger_timeout";
  }
  return "unknown";
}

}  // namespace ringway
