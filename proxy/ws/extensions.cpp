#include "proxy/ws/extensions.h"

#include "proxy/http/tokens.h"

namespace ringway::ws {

uint8_t rsv_bits_for_extensions(std::string_view sec_websocket_extensions) {
  uint8_t bits = 0;
  http::any_list_element(sec_websocket_extensions, [&bits](std::string_view extension) {
    // "name; param=value; ...": only the name matters here.
    const std::string_view name = http::trim_ows(extension.substr(0, extension.find(';')));
    if (http::iequals(name, "permessage-deflate") || http::iequals(name, "x-webkit-deflate-frame")) {
      bits |= 0x4;
    } else if (!name.empty()) {
      bits |= 0x7;
    }
    return false;
  });
  return bits;
}

}  // namespace ringway::ws
