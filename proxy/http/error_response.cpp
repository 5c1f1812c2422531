// ringway's own HTTP answers (400, 408, 426, 431, 502, 503): small, complete, and closing.
#include <string>

#include "proxy/http/request_head.h"

namespace ringway::http {
namespace {

std::string_view status_text(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 500 ? "Client Error" : "Server Error";
  }
}

}  // namespace

std::string error_response(int status, std::string_view reason, std::string_view extra_headers) {
  const std::string body = std::string(reason) + "\n";
  std::string out;
  out.reserve(128 + extra_headers.size() + body.size());
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(status_text(status));
  out.append("\r\nContent-Type: text/plain\r\nContent-Length: ").append(std::to_string(body.size()));
  out.append("\r\nConnection: close\r\n").append(extra_headers).append("\r\n").append(body);
  return out;
}

}  // namespace ringway::http
