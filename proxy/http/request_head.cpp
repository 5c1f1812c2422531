// Request head parsing: a cheap byte scan finds the blank line (and rejects what llhttp would let
// through in its loose mode), then llhttp parses exactly the head, once.
#include "proxy/http/request_head.h"

#include <llhttp.h>

#include <algorithm>

#include "proxy/http/tokens.h"

namespace ringway::http {
namespace {

constexpr size_t kMaxMethodLength = 32;  // longer than any method llhttp knows

// What llhttp's callbacks fill in. Spans are contiguous because the whole head is in one buffer.
struct ParseContext {
  RequestHead* head = nullptr;
  HeaderView pending;  // the header whose name/value is being read
  bool headers_complete = false;
  bool bad_header_name = false;
};

ParseContext& context(llhttp_t* parser) { return *static_cast<ParseContext*>(parser->data); }

// Extends `view` by a span llhttp reports (a span may come in pieces).
void extend(std::string_view& view, const char* at, size_t length) {
  if (view.data() == nullptr) {
    view = std::string_view(at, length);
  } else {
    view = std::string_view(view.data(), static_cast<size_t>(at + length - view.data()));
  }
}

int on_method(llhttp_t* parser, const char* at, size_t length) {
  extend(context(parser).head->method, at, length);
  return 0;
}

int on_url(llhttp_t* parser, const char* at, size_t length) {
  extend(context(parser).head->target, at, length);
  return 0;
}

int on_header_field(llhttp_t* parser, const char* at, size_t length) {
  extend(context(parser).pending.name, at, length);
  return 0;
}

int on_header_value(llhttp_t* parser, const char* at, size_t length) {
  extend(context(parser).pending.value, at, length);
  return 0;
}

int on_header_value_complete(llhttp_t* parser) {
  ParseContext& ctx = context(parser);
  // llhttp accepts "Name :" (whitespace before the colon) in loose mode; RFC 9112 5.1 says reject.
  bool valid = !ctx.pending.name.empty();
  for (const char c : ctx.pending.name) valid = valid && is_tchar(c);
  if (!valid) {
    ctx.bad_header_name = true;
    return HPE_USER;
  }
  // llhttp strips leading whitespace only.
  ctx.head->headers.push_back({ctx.pending.name, trim_ows(ctx.pending.value)});
  ctx.pending = HeaderView{};
  return 0;
}

int on_headers_complete(llhttp_t* parser) {
  ParseContext& ctx = context(parser);
  ctx.headers_complete = true;
  ctx.head->http_major = parser->http_major;
  ctx.head->http_minor = parser->http_minor;
  // Stop here: a body or the client's first frames are not ours to parse.
  return HPE_PAUSED;
}

const llhttp_settings_t& request_settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_method = on_method;
    s.on_url = on_url;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_header_value_complete = on_header_value_complete;
    s.on_headers_complete = on_headers_complete;
    return s;
  }();
  return settings;
}

HeadParse malformed(std::string_view reason) {
  HeadParse result;
  result.status = HeadStatus::Malformed;
  result.reason = reason;
  return result;
}

// The method must be a token followed by a space: anything else (binary, a TLS handshake) is
// rejected on its first bytes.
std::string_view check_method_prefix(std::string_view buffer) {
  if (!buffer.empty() && (buffer[0] == '\r' || buffer[0] == '\n')) {
    return "empty line before the request line";
  }
  const size_t n = std::min(buffer.size(), kMaxMethodLength + 1);
  for (size_t i = 0; i < n; ++i) {
    if (buffer[i] == ' ') return i == 0 ? "malformed request line" : std::string_view{};
    if (!is_tchar(buffer[i])) return "malformed request line";
  }
  return n > kMaxMethodLength ? "malformed request line" : std::string_view{};
}

HeadParse run_llhttp(std::string_view head_bytes) {
  HeadParse result;
  result.head.headers.reserve(16);
  ParseContext ctx;
  ctx.head = &result.head;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &request_settings());
  parser.data = &ctx;
  const llhttp_errno_t err = llhttp_execute(&parser, head_bytes.data(), head_bytes.size());
  if (ctx.bad_header_name) return malformed("invalid header name");
  if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
    // llhttp's reasons are string literals: static, one line.
    const char* reason = llhttp_get_error_reason(&parser);
    return malformed(reason != nullptr ? reason : "malformed request head");
  }
  if (!ctx.headers_complete) return malformed("malformed request head");
  if (result.head.http_major != 1) return malformed("unsupported HTTP version");
  result.status = HeadStatus::Complete;
  result.head.head_length = head_bytes.size();
  result.head.raw = head_bytes;
  return result;
}

}  // namespace

const HeaderView* RequestHead::find(std::string_view name) const {
  for (const HeaderView& header : headers) {
    if (iequals(header.name, name)) return &header;
  }
  return nullptr;
}

std::string_view RequestHead::host() const {
  const HeaderView* header = find("Host");
  if (header == nullptr) return {};
  std::string_view value = header->value;
  if (!value.empty() && value.front() == '[') {
    // An IPv6 literal keeps its brackets: "[::1]:8080" -> "[::1]".
    const size_t close = value.find(']');
    return close == std::string_view::npos ? value : value.substr(0, close + 1);
  }
  return value.substr(0, value.find(':'));
}

HeadParse parse_request_head(std::string_view buffer, size_t max_header_size) {
  return parse_request_head(buffer, max_header_size, 0);
}

HeadParse parse_request_head(std::string_view buffer, size_t max_header_size, size_t scanned) {
  if (const std::string_view reason = check_method_prefix(buffer); !reason.empty()) {
    return malformed(reason);
  }
  // Only the first max_header_size bytes can hold a head that fits.
  const size_t limit = std::min(buffer.size(), max_header_size);
  // Re-check the last 3 bytes of the previous scan: a CRLFCRLF or a CR may straddle the two calls.
  const size_t start = scanned > 3 ? std::min(scanned - 3, limit) : 0;
  for (size_t i = start; i < limit; ++i) {
    const char c = buffer[i];
    if (c == '\n') {
      if (i == 0 || buffer[i - 1] != '\r') return malformed("bare LF in request head");
      if (i >= 3 && buffer.substr(i - 3, 4) == "\r\n\r\n") return run_llhttp(buffer.substr(0, i + 1));
    } else if (c == '\r') {
      if (i + 1 < buffer.size() && buffer[i + 1] != '\n') return malformed("bare CR in request head");
    } else if ((c == ' ' || c == '\t') && i >= 2 && buffer[i - 1] == '\n') {
      // A line that starts with whitespace continues the previous one (obs-fold, RFC 9112 5.2).
      return malformed("obsolete line folding in request head");
    }
  }
  HeadParse result;
  result.status = buffer.size() >= max_header_size ? HeadStatus::TooLarge : HeadStatus::NeedMore;
  return result;
}

}  // namespace ringway::http
