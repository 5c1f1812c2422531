#include "proxy/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace ringway::net {

std::optional<sockaddr_storage> resolve(const conf::Endpoint& endpoint, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  const int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    error = std::string("cannot resolve \"") + endpoint.host + "\": " + ::gai_strerror(rc);
    return std::nullopt;
  }
  sockaddr_storage address{};
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  return address;
}

std::string ip_text(const sockaddr_storage& address) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::string address_text(const sockaddr_storage& address) {
  uint16_t port = 0;
  if (address.ss_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    return ip_text(address) + ":" + std::to_string(port);
  }
  if (address.ss_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    // Built with append (not operator+ chains) to dodge GCC 12's false -Wrestrict positive.
    std::string text = "[";
    text.append(ip_text(address)).append("]:").append(std::to_string(port));
    return text;
  }
  return "?";
}

}  // namespace ringway::net
