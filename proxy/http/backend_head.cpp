// The head forwarded to the backend: the client's bytes, line for line, with only X-Forwarded-For
// and X-Forwarded-Proto touched. Copying raw lines (not re-serialising parsed fields) is what keeps
// the target's %2F, header name case and spacing exactly as the client sent them. A plain HTTP
// request also loses its hop-by-hop fields (RFC 9110 7.6.1) and gets ringway's own Connection.
#include <string>
#include <vector>

#include "proxy/http/hop_by_hop.h"
#include "proxy/http/request_head.h"
#include "proxy/http/tokens.h"

namespace ringway::http {
namespace {

constexpr std::string_view kForwardedFor = "X-Forwarded-For";
constexpr std::string_view kForwardedProto = "X-Forwarded-Proto";

struct Line {
  std::string_view name;
  std::string_view value;  // OWS trimmed
  std::string_view text;   // the whole line without CRLF; empty for a hand-built head
};

// Header lines of the raw head (the parser has rejected obs-fold, so one header is one line).
std::vector<Line> raw_lines(std::string_view raw, std::string_view& request_line) {
  std::vector<Line> lines;
  size_t end = raw.find("\r\n");
  request_line = raw.substr(0, end);
  size_t pos = end + 2;
  while (pos + 2 <= raw.size()) {
    end = raw.find("\r\n", pos);
    if (end == std::string_view::npos || end == pos) break;  // the blank line ends the head
    const std::string_view text = raw.substr(pos, end - pos);
    const size_t colon = text.find(':');
    if (colon != std::string_view::npos) {
      lines.push_back({text.substr(0, colon), trim_ows(text.substr(colon + 1)), text});
    }
    pos = end + 2;
  }
  return lines;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

std::string build_backend_head(const RequestHead& head, std::string_view client_ip,
                               std::string_view proto, std::string_view connection) {
  std::string_view request_line;
  std::vector<Line> lines;
  std::string rebuilt_request_line;
  if (!head.raw.empty()) {
    lines = raw_lines(head.raw, request_line);
  } else {
    rebuilt_request_line = std::string(head.method) + " " + std::string(head.target) + " HTTP/" +
                           std::to_string(head.http_major) + "." + std::to_string(head.http_minor);
    request_line = rebuilt_request_line;
    for (const HeaderView& header : head.headers) lines.push_back({header.name, header.value, {}});
  }

  // A plain request (connection set) loses its hop-by-hop fields; an upgrade keeps them all.
  HopByHop hop;
  for (const Line& line : lines) {
    if (iequals(line.name, "Connection")) hop.add_connection_value(line.value);
  }
  const auto dropped = [&](const Line& line) { return !connection.empty() && hop.contains(line.name); };

  size_t last_xff = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (iequals(lines[i].name, kForwardedFor) && !dropped(lines[i])) last_xff = i;
  }

  std::string out;
  out.reserve(request_line.size() + (head.raw.empty() ? 256 : head.raw.size()) + 64 + client_ip.size());
  out.append(request_line).append("\r\n");
  bool proto_written = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& line = lines[i];
    if (dropped(line)) continue;
    if (iequals(line.name, kForwardedProto)) {
      // Replaced where it stood (the client's spelling of the name kept); repeats dropped.
      if (!proto_written) append_header(out, line.name, proto);
      proto_written = true;
    } else if (i == last_xff) {
      if (line.value.empty()) {
        append_header(out, line.name, client_ip);
      } else {
        // Keep the client's bytes up to the end of the value, then append ", ip".
        const std::string_view kept = line.text.empty() ? line.value : trim_ows(line.text);
        if (line.text.empty()) out.append(line.name).append(": ");
        out.append(kept).append(", ").append(client_ip).append("\r\n");
      }
    } else if (line.text.empty()) {
      append_header(out, line.name, line.value);
    } else {
      out.append(line.text).append("\r\n");
    }
  }
  if (last_xff == lines.size()) append_header(out, kForwardedFor, client_ip);
  if (!proto_written) append_header(out, kForwardedProto, proto);
  if (!connection.empty()) append_header(out, "Connection", connection);
  out.append("\r\n");
  return out;
}

}  // namespace ringway::http
