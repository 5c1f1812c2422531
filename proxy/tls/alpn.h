// Internal to proxy/tls: the one application protocol ringway speaks over TLS.
#pragma once

#include <array>

namespace ringway::tls {

// ALPN wire format: a length byte, then the name.
inline constexpr std::array<unsigned char, 9> kAlpnHttp11 = {8,   'h', 't', 't', 'p',
                                                             '/', '1', '.', '1'};

}  // namespace ringway::tls
