// DNS discovery (backends[].discover: dns), the pure part: what a resolver's answers become. The
// resolver loop itself is proxy/discovery.h.
//
// An entry with `discover: dns` names a DNS name (a Kubernetes headless Service, say) that may
// resolve to several addresses. Each address becomes an ordinary backend whose identity on the hash
// table is the address itself, "ENTRY@IP:PORT", so that every replica that sees the same answers
// builds the same table, whatever order the resolver gave them in.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"

namespace ringway::conf {

// The last good answer for each DNS name (by host name as written): IP texts ("10.0.0.7", "::1"),
// sorted and without duplicates (sort_addresses). A name without an answer yet is absent.
using DiscoveredAddresses = std::map<std::string, std::vector<std::string>, std::less<>>;

// IPv4 before IPv6, each in numeric order; duplicates removed; texts that are not IP addresses are
// dropped. Texts are normalised (as inet_ntop writes them).
std::vector<std::string> sort_addresses(std::vector<std::string> ips);

// The backend that address `ip` (an IP text) of a `discover: dns` entry becomes: name
// "ENTRY@IP:PORT" ("ENTRY@[IPv6]:PORT"), address IP:PORT, weight, backup and drain copied, discover
// none, discovered_from = the entry's name.
Backend discovered_backend(const Backend& entry, const std::string& ip);

// The backends of `pool` as they run: file entries in file order, each `discover: dns` entry
// replaced by one backend per address of `found` for its host (in sorted order; none while the name
// has no answer, or when `found` is null). Expanded backends live in `owned`; the pointers returned
// point into `pool` or into `owned`.
std::vector<const Backend*> expand_backends(const Pool& pool, const DiscoveredAddresses* found,
                                            std::vector<std::unique_ptr<Backend>>& owned);

// Every distinct host name of `discover: dns` entries, with the shortest interval of the entries
// that name it and the entries themselves ("pool/entry", for logs).
struct DiscoveryName {
  std::string host;
  Duration interval{5000};
  std::vector<std::string> entries;
};
std::vector<DiscoveryName> discovery_names(const Config& config);

}  // namespace ringway::conf
