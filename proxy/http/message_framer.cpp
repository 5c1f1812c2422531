// llhttp in streaming mode, pausing at the two places ringway cares about: the end of a head and the
// end of a message. Bodies are only counted through (llhttp's chunk parser walks chunk sizes,
// extensions and trailers); no callback copies a byte, so the state stays the same small size.
#include "proxy/http/message_framer.h"

#include <llhttp.h>

namespace ringway::http {
namespace {
constexpr size_t kDefaultMaxHead = size_t{64} * 1024;
}  // namespace

struct MessageFramer::Impl {
  llhttp_t parser{};
  Kind kind;
  Event pending = Event::NeedMore;  // what the pause that ended the last feed was for
  bool paused = false;
  bool failed = false;
  bool started = false;  // a message has begun (on_message_begin) and not yet ended
  bool in_body = false;
  bool head_request = false;
  bool interim = false;
  bool keep_alive = false;
  bool eof_done = false;  // finish() ended the message
  int status = 0;
  uint8_t major = 0;
  uint8_t minor = 0;
  size_t head_bytes = 0;
  size_t max_head = kDefaultMaxHead;
  const char* reason = nullptr;

  explicit Impl(Kind k) : kind(k) {}

  static Impl& of(llhttp_t* p) { return *static_cast<Impl*>(p->data); }

  static int on_message_begin(llhttp_t* p) {
    Impl& self = of(p);
    self.started = true;
    self.head_bytes = 0;
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    Impl& self = of(p);
    self.status = p->status_code;
    self.major = p->http_major;
    self.minor = p->http_minor;
    self.interim = false;
    if (self.kind == Kind::Response) {
      // llhttp takes one or two digits ("HTTP/1.1 04 x"); a status code has three (RFC 9110 15).
      if (self.status < 100 || self.status > 999) {
        llhttp_set_error_reason(p, "invalid status code");
        return -1;
      }
      self.interim = self.status < 200 && self.status != 101;
      // RFC 9110 6.4.1 / 9.3.2: 1xx, 204, 304 and any answer to HEAD have no body, whatever
      // Content-Length or Transfer-Encoding say. llhttp itself would read a 204's Content-Length.
      if (self.interim || self.status == 204 || self.status == 304 || self.head_request) {
        p->flags |= F_SKIPBODY;
      }
    } else {
      // ringway forwards a plain request as a plain request (Upgrade is hop-by-hop and removed), so
      // "Upgrade: h2c" with "Connection: upgrade" must not make llhttp stop after the head.
      p->upgrade = 0;
    }
    self.keep_alive = llhttp_should_keep_alive(p) != 0;
    self.in_body = true;
    self.pending = Event::HeadDone;
    return HPE_PAUSED;
  }

  static int on_message_complete(llhttp_t* p) {
    Impl& self = of(p);
    self.keep_alive = llhttp_should_keep_alive(p) != 0;
    self.in_body = false;
    self.started = false;
    self.pending = Event::MessageDone;
    return HPE_PAUSED;
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t init;
      llhttp_settings_init(&init);
      init.on_message_begin = on_message_begin;
      init.on_headers_complete = on_headers_complete;
      init.on_message_complete = on_message_complete;
      return init;
    }();
    return s;
  }

  Step fail(const char* why) {
    failed = true;
    if (reason == nullptr) reason = why;
    return {Event::Error, 0};
  }
};

MessageFramer::MessageFramer(Kind kind) : impl_(std::make_unique<Impl>(kind)) {
  llhttp_init(&impl_->parser, kind == Kind::Request ? HTTP_REQUEST : HTTP_RESPONSE, &Impl::settings());
  impl_->parser.data = impl_.get();
}

MessageFramer::~MessageFramer() = default;

void MessageFramer::set_head_request(bool head) { impl_->head_request = head; }

void MessageFramer::set_max_head_size(size_t bytes) { impl_->max_head = bytes; }

MessageFramer::Step MessageFramer::feed(std::string_view bytes) {
  Impl& self = *impl_;
  if (self.failed) return {Event::Error, 0};
  if (self.paused) {
    llhttp_resume(&self.parser);
    self.paused = false;
  }
  self.pending = Event::NeedMore;
  const bool was_in_head = !self.in_body;
  const llhttp_errno_t err = llhttp_execute(&self.parser, bytes.data(), bytes.size());
  if (err == HPE_OK) {
    if (was_in_head && self.started) {
      self.head_bytes += bytes.size();
      if (self.head_bytes > self.max_head) return self.fail("head too large");
    }
    return {Event::NeedMore, bytes.size()};
  }
  if (err == HPE_PAUSED && self.pending != Event::NeedMore) {
    self.paused = true;
    const size_t consumed = static_cast<size_t>(llhttp_get_error_pos(&self.parser) - bytes.data());
    if (self.pending == Event::HeadDone && was_in_head && self.head_bytes + consumed > self.max_head) {
      return self.fail("head too large");
    }
    return {self.pending, consumed};
  }
  const char* why = llhttp_get_error_reason(&self.parser);
  return self.fail(why != nullptr ? why : "invalid HTTP message");
}

bool MessageFramer::finish() {
  Impl& self = *impl_;
  if (self.failed || !self.started || !self.in_body) return false;
  if (self.paused) {
    llhttp_resume(&self.parser);
    self.paused = false;
  }
  self.pending = Event::NeedMore;
  const llhttp_errno_t err = llhttp_finish(&self.parser);
  const bool ended = self.pending == Event::MessageDone && (err == HPE_OK || err == HPE_PAUSED);
  if (!ended) self.fail("message cut short");
  self.keep_alive = false;  // the connection is over either way
  return ended;
}

int MessageFramer::status_code() const { return impl_->status; }
bool MessageFramer::interim() const { return impl_->interim; }
uint8_t MessageFramer::http_major() const { return impl_->major; }
uint8_t MessageFramer::http_minor() const { return impl_->minor; }
bool MessageFramer::keep_alive() const { return impl_->keep_alive; }
bool MessageFramer::in_body() const { return impl_->in_body; }
bool MessageFramer::at_message_start() const { return !impl_->started; }
const char* MessageFramer::error_reason() const {
  return impl_->reason != nullptr ? impl_->reason : "invalid HTTP message";
}

}  // namespace ringway::http
