// One plain HTTP/1.1 request and its response, in flight on a client connection (http_exchange.cpp).
// Allocated when a non-upgrade request head is complete, released when its response has been
// written: an idle keep-alive connection holds none of it.
#pragma once

#include <cstdint>
#include <string>

#include "proxy/http/message_framer.h"

namespace ringway {

struct HttpExchange {
  http::MessageFramer request{http::MessageFramer::Kind::Request};
  http::MessageFramer response{http::MessageFramer::Kind::Response};
  std::string method;         // for the access log (the head buffer may be gone by then)
  std::string response_head;  // the backend's head until it is complete, then released
  std::string leftover;       // client bytes after this request: the start of the next one
  uint64_t started_ns = 0;    // the request head was complete
  uint64_t bytes_in = 0;      // request body bytes forwarded to the backend
  uint64_t bytes_out = 0;     // response bytes (heads included) sent to the client
  int status = 0;             // the final status sent to the client; 0 until then
  bool client_keep_alive = false;  // the request allows another one after it
  bool backend_keep_alive = false; // the final response allows another request on its connection
  bool sent = false;               // the request went to a backend (labels its metrics and log)
  bool request_done = false;       // the whole request was forwarded
  bool response_started = false;   // the final response head went to the client
  bool response_done = false;
  bool stray_bytes = false;        // the backend sent bytes after its response: out of step
  bool close_after = false;        // the client connection ends after this response
  bool flushing = false;           // the response is complete; waiting for it to be written
  bool logged = false;             // its access-log line was written
};

}  // namespace ringway
