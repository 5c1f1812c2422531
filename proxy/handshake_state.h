// What a session needs only until its upgrade completes; freed when the relay starts so that an
// established, idle WebSocket holds no buffers.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/http/request_head.h"
#include "proxy/http/response_head.h"

namespace ringway {

struct HandshakeState {
  std::string head;            // the client's bytes: its head, then anything pipelined after it
  http::HeadParse parse;       // views into `head` (never appended to once complete)
  std::string key;             // Sec-WebSocket-Key, for checking the backend's accept key
  std::string backend_head;    // the head forwarded to the backend
  std::vector<uint8_t> usable; // per backend of the pool: may still be tried by this request
  uint32_t attempts_left = 0;
  uint32_t attempts_made = 0;
  uint64_t key_hash = 0;
  bool retry_after_close = false;
  uv_connect_t connect_req{};
  http::ResponseParser response;
  std::string response_bytes;  // the backend's answer until its head is complete
};

}  // namespace ringway
