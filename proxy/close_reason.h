// Every way a session ends, with the label used in its log line (and, later, its metric).
#pragma once

#include <cstdint>

namespace ringway {

enum class CloseReason : uint8_t {
  None,
  ClientClosed,        // clean close handshake, or the client went away
  BackendClosed,       // the backend ended the connection after a Close
  BackendVanished,     // the backend dropped TCP without a Close: the client got 1012
  ClientError,         // read/write error on the client socket
  BadRequest,          // 400 / 426 / 431
  HandshakeTimeout,    // 408
  NoBackend,           // 503
  ConnectFailed,       // 502 after every candidate failed
  BadUpstreamResponse, // the backend's answer was not valid HTTP or its 101 had a bad accept key
  UpstreamTimeout,     // the backend did not answer the upgrade (or a plain request) in time: 504
  Rejected,            // the backend answered with a non-101 status, relayed
  Protocol,            // a peer broke RFC 6455: 1002 to the client
  TooBig,              // a message over websocket.max_message_size: 1009
  Overloaded,          // limits.max_connections: 503
  Shutdown,            // graceful shutdown: 1001
  RateLimited,         // websocket.messages_per_second exceeded: 1008
  IdleTimeout,         // websocket.idle_timeout: no frame either way: 1001; or an idle keep-alive
                       // HTTP connection (timeouts.handshake without a next request)
  PingTimeout,         // websocket.ping_interval: the client did not answer ringway's Ping
  TooManyPerIp,        // limits.max_connections_per_ip: 429
  Tls,                 // the TLS handshake with the client failed (or timed out)
  BackendTls,          // the TLS handshake with the backend failed: 502
  ProxyProtocol,       // listeners[].proxy_protocol: a missing, malformed or late PROXY header
  LingerTimeout,       // a peer did not finish the close within the grace period
};

const char* to_string(CloseReason reason);

}  // namespace ringway
