// What a session needs only until its upgrade completes; freed when the relay starts so that an
// established, idle WebSocket holds no buffers.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/http/affinity_cookie.h"
#include "proxy/http/request_head.h"
#include "proxy/http/response_head.h"

namespace ringway {

struct HandshakeState {
  static constexpr size_t kMaxHeldPipelined = 64 * 1024;

  // The client's address and port: the socket's peer, or the source a PROXY header named.
  sockaddr_storage client_address{};
  std::string proxy_header;    // a PROXY header split over reads, until complete (then released)
  std::string head;            // the client's bytes: its head, then anything pipelined after it
  http::HeadParse parse;       // views into `head` (never appended to once complete)
  std::string key;             // Sec-WebSocket-Key, for checking the backend's accept key
  std::string backend_head;    // the head forwarded to the backend
  // Complete header lines (each ending in CRLF) added to the response head the client gets for
  // this request, a plain response or a 101 (Session::response_head_for_client), e.g. Set-Cookie.
  std::string extra_response_headers;
  std::vector<uint8_t> usable; // per backend of the pool: may still be tried by this request
  uint32_t attempts_left = 0;
  uint32_t attempts_made = 0;
  uint64_t key_hash = 0;
  bool retry_after_close = false;
  // An upgrade keeps reading the client while the backend is tried (stopping and restarting the
  // read would cost two epoll_ctl calls per connection): what comes is held in `head`, up to
  // kMaxHeldPipelined bytes past the head, after which reading pauses until the 101.
  bool client_reading = false;
  // The client's read ended (UV_EOF or an error) before the 101: delivered once relaying, where the
  // kernel would otherwise have reported it.
  int client_end = 0;
  uv_connect_t connect_req{};
  http::ResponseParser response;
  std::string response_bytes;  // the backend's answer until its head is complete
  http::AffinityLookup affinity;  // what the request's affinity cookie said (session_affinity.cpp)
};

}  // namespace ringway
