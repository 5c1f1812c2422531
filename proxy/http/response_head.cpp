// The backend's answer, parsed as it streams past: llhttp finds the end of the head (101) or of the
// whole message (anything else), pausing there so that consumed() is exact.
#include "proxy/http/response_head.h"

#include <llhttp.h>

#include "proxy/http/tokens.h"

namespace ringway::http {
namespace {
constexpr size_t kDefaultMaxHead = size_t{64} * 1024;
constexpr size_t kMaxFieldName = 64;        // longer names are none we record
constexpr size_t kMaxRecordedValue = 4096;  // bounds memory per recorded header
}  // namespace

struct ResponseParser::Impl {
  enum class Capture : uint8_t { None, Accept, Extensions };

  llhttp_t parser{};
  State state = State::NeedMore;
  size_t consumed = 0;
  size_t head_bytes = 0;  // bytes seen while the final head was incomplete
  size_t max_head = kDefaultMaxHead;
  bool ends_at_eof = false;
  bool interim = false;  // the message being parsed is a 1xx other than 101
  std::string accept;
  std::string extensions;
  std::string field;  // name of the header being read, while it may still matter
  bool field_too_long = false;
  Capture capture = Capture::None;
  std::string value;

  static Impl& of(llhttp_t* p) { return *static_cast<Impl*>(p->data); }

  static int on_header_field(llhttp_t* p, const char* at, size_t length) {
    Impl& self = of(p);
    if (self.field.size() + length > kMaxFieldName) {
      self.field_too_long = true;
    } else {
      self.field.append(at, length);
    }
    return 0;
  }

  static int on_header_field_complete(llhttp_t* p) {
    Impl& self = of(p);
    self.capture = Capture::None;
    if (!self.field_too_long) {
      if (iequals(self.field, "Sec-WebSocket-Accept")) self.capture = Capture::Accept;
      if (iequals(self.field, "Sec-WebSocket-Extensions")) self.capture = Capture::Extensions;
    }
    self.field.clear();
    self.field_too_long = false;
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, size_t length) {
    Impl& self = of(p);
    if (self.capture != Capture::None) {
      if (self.value.size() + length > kMaxRecordedValue) {
        llhttp_set_error_reason(p, "recorded header too long");
        return HPE_USER;
      }
      self.value.append(at, length);
    }
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) {
    Impl& self = of(p);
    if (self.capture != Capture::None) {
      std::string& target = self.capture == Capture::Accept ? self.accept : self.extensions;
      if (!target.empty()) target.append(", ");
      target.append(trim_ows(self.value));
    }
    self.value.clear();
    self.capture = Capture::None;
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    Impl& self = of(p);
    const int status = p->status_code;
    // llhttp takes one or two digits ("HTTP/1.1 04 x"); a status code has three (RFC 9110 15).
    if (status < 100 || status > 999) {
      llhttp_set_error_reason(p, "invalid status code");
      return -1;
    }
    if (status == 101) {
      self.state = State::Upgraded;
      return HPE_PAUSED;  // the rest of the stream is WebSocket frames, not ours
    }
    if (status >= 100 && status < 200) {
      self.interim = true;  // e.g. 100 Continue: no body, the real answer follows
      return 1;
    }
    self.state = State::InBody;
    // RFC 9110 6.4.1: 204 and 304 never have a body, whatever Content-Length says.
    if (status == 204 || status == 304) return 1;
    self.ends_at_eof = llhttp_message_needs_eof(p) != 0;
    return 0;
  }

  static int on_message_complete(llhttp_t* p) {
    Impl& self = of(p);
    if (self.interim) {
      // Forget the interim answer's headers; parsing goes on with the next message.
      self.interim = false;
      self.accept.clear();
      self.extensions.clear();
      return 0;
    }
    self.state = State::MessageDone;
    return HPE_PAUSED;  // consumed() must end exactly here
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t init;
      llhttp_settings_init(&init);
      init.on_header_field = on_header_field;
      init.on_header_field_complete = on_header_field_complete;
      init.on_header_value = on_header_value;
      init.on_header_value_complete = on_header_value_complete;
      init.on_headers_complete = on_headers_complete;
      init.on_message_complete = on_message_complete;
      return init;
    }();
    return s;
  }

  bool finished() const {
    return state == State::Upgraded || state == State::MessageDone || state == State::Error;
  }
};

ResponseParser::ResponseParser() : impl_(std::make_unique<Impl>()) {
  llhttp_init(&impl_->parser, HTTP_RESPONSE, &Impl::settings());
  impl_->parser.data = impl_.get();
}

ResponseParser::~ResponseParser() = default;

void ResponseParser::set_max_head_size(size_t bytes) { impl_->max_head = bytes; }

ResponseParser::State ResponseParser::feed(std::string_view bytes) {
  Impl& self = *impl_;
  self.consumed = 0;
  if (self.finished()) return self.state;
  const llhttp_errno_t err = llhttp_execute(&self.parser, bytes.data(), bytes.size());
  if (err == HPE_OK) {
    self.consumed = bytes.size();
    if (self.state == State::NeedMore) {
      self.head_bytes += bytes.size();
      if (self.head_bytes > self.max_head) self.state = State::Error;
    }
    return self.state;
  }
  if (err == HPE_PAUSED && (self.state == State::Upgraded || self.state == State::MessageDone)) {
    self.consumed = static_cast<size_t>(llhttp_get_error_pos(&self.parser) - bytes.data());
    return self.state;
  }
  self.state = State::Error;
  return self.state;
}

size_t ResponseParser::consumed() const { return impl_->consumed; }

int ResponseParser::status_code() const { return impl_->parser.status_code; }

const std::string& ResponseParser::accept_header() const { return impl_->accept; }

const std::string& ResponseParser::extensions_header() const { return impl_->extensions; }

bool ResponseParser::ends_at_eof() const { return impl_->ends_at_eof; }

ResponseParser::State ResponseParser::finish() {
  Impl& self = *impl_;
  self.consumed = 0;
  if (self.finished()) return self.state;
  if (self.state != State::InBody || !self.ends_at_eof) {
    self.state = State::Error;  // EOF inside the head, or before Content-Length / the last chunk
    return self.state;
  }
  const llhttp_errno_t err = llhttp_finish(&self.parser);
  if (self.state != State::MessageDone || (err != HPE_OK && err != HPE_PAUSED)) self.state = State::Error;
  return self.state;
}

}  // namespace ringway::http
