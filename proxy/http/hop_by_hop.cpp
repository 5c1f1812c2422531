// Rewriting a backend's response head for the client: line by line, so that what is kept stays byte
// for byte as the backend sent it (name case, spacing, the reason phrase).
#include "proxy/http/hop_by_hop.h"

namespace ringway::http {
namespace {

struct RawLine {
  std::string_view text;  // without its line ending
  std::string_view name;  // empty for the status line and continuation lines
  bool continuation = false;
};

// Lines of the head, CRLF (or a bare LF, which llhttp tolerates in responses) stripped, up to the
// blank line.
std::vector<RawLine> split_lines(std::string_view raw) {
  std::vector<RawLine> lines;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t end = raw.find('\n', pos);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view text = raw.substr(pos, end - pos);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    pos = end + 1;
    if (text.empty()) break;  // the blank line
    RawLine line{text, {}, false};
    if (!lines.empty()) {
      if (text.front() == ' ' || text.front() == '\t') {
        line.continuation = true;
      } else {
        line.name = text.substr(0, text.find(':'));
      }
    }
    lines.push_back(line);
  }
  return lines;
}

}  // namespace

std::string client_response_head(std::string_view raw_head, std::string_view connection,
                                 std::string_view extra_headers) {
  const std::vector<RawLine> lines = split_lines(raw_head);
  HopByHop hop;
  if (!connection.empty()) {
    for (size_t i = 1; i < lines.size(); ++i) {
      if (!lines[i].continuation && iequals(lines[i].name, "Connection")) {
        hop.add_connection_value(lines[i].text.substr(lines[i].name.size() + 1));
      }
    }
  }
  std::string out;
  out.reserve(raw_head.size() + extra_headers.size() + 32);
  bool dropping = false;  // the field being continued was dropped
  for (size_t i = 0; i < lines.size(); ++i) {
    const RawLine& line = lines[i];
    if (i > 0 && !connection.empty()) {
      if (!line.continuation) dropping = hop.contains(line.name);
      if (dropping) continue;
    }
    out.append(line.text).append("\r\n");
  }
  if (!connection.empty()) out.append("Connection: ").append(connection).append("\r\n");
  out.append(extra_headers).append("\r\n");
  return out;
}

}  // namespace ringway::http
