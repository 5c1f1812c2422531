// Small socket-address helpers shared by listeners, backends and the admin server.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>

#include "conf/config.h"

namespace ringway::net {

// Resolves host:port (numeric or a name, via getaddrinfo) to one address; nullopt on failure, with
// the reason in `error`.
std::optional<sockaddr_storage> resolve(const conf::Endpoint& endpoint, std::string& error);

// "1.2.3.4" / "::1" for an IPv4/IPv6 address (no port); "" when the family is unknown.
std::string ip_text(const sockaddr_storage& address);

// "1.2.3.4:80" / "[::1]:80".
std::string address_text(const sockaddr_storage& address);

}  // namespace ringway::net
