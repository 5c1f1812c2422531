// Which RSV bits the extensions accepted in a handshake may set. ringway passes
// Sec-WebSocket-Extensions through untouched and never inflates, so it only needs to know which
// reserved bits stop being protocol errors once the backend's 101 accepted an extension.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringway::ws {

// RSV bits (as FrameHeader::rsv: RSV1 = 0x4) for the value(s) of the 101's Sec-WebSocket-Extensions
// (several headers joined with ", "): 0 when empty, RSV1 for permessage-deflate (RFC 7692), all three
// for an extension ringway does not know (its frames are the endpoints' business, not ours).
uint8_t rsv_bits_for_extensions(std::string_view sec_websocket_extensions);

}  // namespace ringway::ws
