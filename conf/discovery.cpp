#include "conf/discovery.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <tuple>

namespace ringway::conf {
namespace {

// (family rank, bytes): IPv4 first, then IPv6, each in numeric order.
struct Parsed {
  int rank = 0;
  std::array<unsigned char, 16> bytes{};
  std::string text;
};

std::optional<Parsed> parse_ip(const std::string& ip) {
  Parsed p;
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_pton(AF_INET, ip.c_str(), p.bytes.data()) == 1) {
    p.rank = 4;
    ::inet_ntop(AF_INET, p.bytes.data(), buf, sizeof buf);
  } else if (::inet_pton(AF_INET6, ip.c_str(), p.bytes.data()) == 1) {
    p.rank = 6;
    ::inet_ntop(AF_INET6, p.bytes.data(), buf, sizeof buf);
  } else {
    return std::nullopt;
  }
  p.text = buf;
  return p;
}

}  // namespace

std::vector<std::string> sort_addresses(std::vector<std::string> ips) {
  std::vector<Parsed> parsed;
  parsed.reserve(ips.size());
  for (const std::string& ip : ips) {
    if (auto p = parse_ip(ip)) parsed.push_back(std::move(*p));
  }
  const auto key = [](const Parsed& p) { return std::tie(p.rank, p.bytes); };
  std::sort(parsed.begin(), parsed.end(), [&](const Parsed& a, const Parsed& b) { return key(a) < key(b); });
  parsed.erase(std::unique(parsed.begin(), parsed.end(), [&](const Parsed& a, const Parsed& b) { return key(a) == key(b); }),
               parsed.end());
  std::vector<std::string> out;
  out.reserve(parsed.size());
  for (Parsed& p : parsed) out.push_back(std::move(p.text));
  return out;
}

Backend discovered_backend(const Backend& entry, const std::string& ip) {
  Backend b;
  const bool v6 = ip.find(':') != std::string::npos;
  b.address.host = ip;
  b.address.port = entry.address.port;
  b.address.text = (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(entry.address.port);
  b.name = entry.name + "@" + b.address.text;
  b.weight = entry.weight;
  b.backup = entry.backup;
  b.drain = entry.drain;
  b.discover = Discover::None;
  b.interval = entry.interval;
  b.discovered_from = entry.name;
  return b;
}

std::vector<const Backend*> expand_backends(const Pool& pool, const DiscoveredAddresses* found,
                                            std::vector<std::unique_ptr<Backend>>& owned) {
  std::vector<const Backend*> out;
  out.reserve(pool.backends.size());
  for (const Backend& entry : pool.backends) {
    if (entry.discover != Discover::Dns) {
      out.push_back(&entry);
      continue;
    }
    if (found == nullptr) continue;
    const auto it = found->find(entry.address.host);
    if (it == found->end()) continue;
    for (const std::string& ip : it->second) {
      owned.push_back(std::make_unique<Backend>(discovered_backend(entry, ip)));
      out.push_back(owned.back().get());
    }
  }
  return out;
}

std::vector<DiscoveryName> discovery_names(const Config& config) {
  std::vector<DiscoveryName> out;
  for (const Pool& pool : config.pools) {
    for (const Backend& entry : pool.backends) {
      if (entry.discover != Discover::Dns) continue;
      auto it = std::find_if(out.begin(), out.end(), [&](const DiscoveryName& n) { return n.host == entry.address.host; });
      if (it == out.end()) {
        out.push_back(DiscoveryName{entry.address.host, entry.interval, {}});
        it = out.end() - 1;
      }
      it->interval = std::min(it->interval, entry.interval);
      it->entries.push_back(pool.name + "/" + entry.name);
    }
  }
  return out;
}

}  // namespace ringway::conf
