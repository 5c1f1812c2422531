#include "tools/wsecho/http_head.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace wsecho {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::string> RequestHead::get(std::string_view name) const {
  std::optional<std::string> out;
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) {
      continue;
    }
    if (out) {
      *out += ", ";
      *out += h.value;
    } else {
      out = h.value;
    }
  }
  return out;
}

bool RequestHead::has_token(std::string_view name, std::string_view token) const {
  const auto value = get(name);
  if (!value) {
    return false;
  }
  std::string_view rest = *value;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    if (iequals(trim(rest.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(comma + 1);
  }
  return false;
}

HeadParse parse_request_head(std::span<const uint8_t> input) {
  HeadParse result;
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  const auto end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return result;  // Incomplete: the caller decides how much it is willing to buffer
  }
  result.consumed = end + 4;
  RequestHead& head = result.head;
  head.raw.assign(text.substr(0, result.consumed));

  auto fail = [&result](std::string why) {
    result.status = HeadStatus::Malformed;
    result.error = std::move(why);
    return result;
  };

  std::string_view rest = text.substr(0, end + 2);  // every line keeps its CRLF terminator
  const auto line_end = rest.find("\r\n");
  const std::string_view request_line = rest.substr(0, line_end);
  rest.remove_prefix(line_end + 2);

  // The target is taken verbatim between the two single spaces: no decoding, no normalisation.
  const auto sp1 = request_line.find(' ');
  const auto sp2 = request_line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == sp2 || sp1 == 0 || sp2 + 1 == request_line.size()) {
    return fail("malformed request line");
  }
  head.method.assign(request_line.substr(0, sp1));
  head.target.assign(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  head.version.assign(request_line.substr(sp2 + 1));
  if (head.target.empty() || head.target.find(' ') != std::string::npos) {
    return fail("malformed request target");
  }
  if (!head.version.starts_with("HTTP/")) {
    return fail("malformed HTTP version");
  }

  while (!rest.empty()) {
    const auto eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' || line.front() == '\t') {
      return fail("malformed header line");  // obsolete line folding is refused, as RFC 9112 allows
    }
    const std::string_view name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) {
      return fail("whitespace in header name");
    }
    head.headers.push_back({std::string(name), std::string(trim(line.substr(colon + 1)))});
  }
  result.status = HeadStatus::Complete;
  return result;
}

std::string websocket_accept(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(key);
  input += kGuid;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, EVP_sha1(), nullptr);
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> encoded{};
  const int n = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(digest_len));
  return {reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n)};
}

}  // namespace wsecho
