// parse_request_head + validate_upgrade + build_backend_head: no crash, views stay inside the buffer,
// a head is never Complete before its last byte, resumed scanning agrees with a fresh scan, and the
// head ringway forwards parses back to an equally valid request.
// Input: [size limit selector][request bytes...]
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "proxy/http/request_head.h"

namespace {

using namespace ringway::http;

bool g_deep = false;

bool inside(std::string_view view, std::string_view buffer) {
  if (view.empty()) return true;
  return view.data() >= buffer.data() && view.data() + view.size() <= buffer.data() + buffer.size();
}

void check_head(const RequestHead& head, std::string_view buffer, size_t max) {
  FUZZ_CHECK(head.head_length >= 4 && head.head_length <= buffer.size() && head.head_length <= max);
  FUZZ_CHECK(head.raw.data() == buffer.data() && head.raw.size() == head.head_length);
  FUZZ_CHECK(head.raw.substr(head.head_length - 4) == "\r\n\r\n");
  FUZZ_CHECK(inside(head.method, head.raw) && inside(head.target, head.raw));
  for (const HeaderView& header : head.headers) {
    FUZZ_CHECK(!header.name.empty());
    FUZZ_CHECK(inside(header.name, head.raw) && inside(header.value, head.raw));
    FUZZ_CHECK(header.value.find_first_of("\r\n") == std::string_view::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_deep = false;
  if (size < 1) return 0;
  const size_t max = data[0] == 0 ? 16384 : static_cast<size_t>(data[0]) * 8;
  const std::string_view buffer(reinterpret_cast<const char*>(data + 1), size - 1);

  const HeadParse parse = parse_request_head(buffer, max);
  if (parse.status == HeadStatus::Malformed) {
    FUZZ_CHECK(!parse.reason.empty() && parse.reason.find('\n') == std::string_view::npos);
  }
  if (parse.status == HeadStatus::TooLarge) FUZZ_CHECK(buffer.size() >= max);
  if (parse.status != HeadStatus::Complete) return 0;
  const RequestHead& head = parse.head;
  g_deep = true;
  check_head(head, buffer, max);

  // One byte short of the head can never be a complete head; scanning resumed from there agrees.
  const std::string_view shorter = buffer.substr(0, head.head_length - 1);
  const HeadParse partial = parse_request_head(shorter, max);
  FUZZ_CHECK(partial.status == HeadStatus::NeedMore);
  const HeadParse resumed = parse_request_head(buffer, max, shorter.size());
  FUZZ_CHECK(resumed.status == HeadStatus::Complete && resumed.head.head_length == head.head_length);
  FUZZ_CHECK(resumed.head.headers.size() == head.headers.size());

  const UpgradeVerdict verdict = validate_upgrade(head);
  FUZZ_CHECK(verdict.status == 0 || verdict.status == 400 || verdict.status == 426);
  FUZZ_CHECK((verdict.status == 0) == !verdict.key.empty());
  FUZZ_CHECK(verdict.status == 0 || (!verdict.reason.empty() && verdict.reason.find('\n') == std::string_view::npos));
  if (verdict.status == 0) {
    FUZZ_CHECK(verdict.key.size() == 24);
    FUZZ_CHECK(websocket_accept(verdict.key).size() == 28);
  } else {
    const std::string response = error_response(verdict.status, verdict.reason);
    FUZZ_CHECK(response.rfind("HTTP/1.1 ", 0) == 0);
  }

  // What goes to the backend is a head of the same validity, with X-Forwarded-* of ours.
  const std::string forwarded = build_backend_head(head, "192.0.2.1", "https");
  const HeadParse again = parse_request_head(forwarded, forwarded.size() + 1);
  FUZZ_CHECK(again.status == HeadStatus::Complete);
  FUZZ_CHECK(again.head.head_length == forwarded.size());
  FUZZ_CHECK(again.head.method == head.method && again.head.target == head.target);
  FUZZ_CHECK(validate_upgrade(again.head).status == verdict.status);
  return 0;
}

namespace ringway::fuzz {

bool last_input_was_deep() { return g_deep; }

std::vector<std::string> seeds() {
  const std::string upgrade =
      "GET /chat?room=a%2Fb HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
      "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n";
  return {
      std::string(1, '\0') + upgrade,
      std::string(1, '\0') + upgrade + "\x81\x80\x00\x00\x00\x00",
      std::string(1, '\x10') + upgrade,
      std::string(1, '\0') + "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
      std::string(1, '\0') + "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
      std::string(1, '\0') + "GET / HTTP/1.1\r\nHost: [::1]:80\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\n"
                             "Sec-WebSocket-Version: 8\r\n\r\n",
      std::string(1, '\0') + "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
  };
}

std::vector<std::string> dictionary() {
  return {"\r\n", "\r\n\r\n", ": ", "GET ", "HTTP/1.1", "HTTP/1.0", "Host: ", "Upgrade: websocket",
          "Connection: Upgrade", "Sec-WebSocket-Key: ", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
          "X-Forwarded-For: ", "X-Forwarded-Proto: ", "Content-Length: ", "Transfer-Encoding: chunked", " ",
          "\t", ",", "%2F"};
}

}  // namespace ringway::fuzz
