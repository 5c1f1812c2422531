// The validated, immutable configuration (contract: ../shared/CONTRACT.md, "Configuration").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lb/hash_key.h"

namespace ringway::conf {

using Duration = std::chrono::milliseconds;

// host:port as written, split. `host` has no brackets for IPv6 ("::1").
struct Endpoint {
  std::string text;  // as in the file, e.g. "[::1]:8080"
  std::string host;
  uint16_t port = 0;
};

// backends[].discover: none (the address is one backend) or dns (every address the name resolves
// to is a backend; proxy/discovery.h).
enum class Discover : uint8_t { None, Dns };

struct Backend {
  std::string name;
  Endpoint address;
  uint32_t weight = 1;
  bool backup = false;
  bool drain = false;
  Discover discover = Discover::None;
  Duration interval{5000};  // discover: dns: how often the name is resolved again
  // Set only on a backend expanded from a `discover: dns` entry (the entry's name; conf/discovery.h).
  std::string discovered_from;
};

// Active health checks of a pool's backends (health/). Absent: no checks, backends assumed up.
enum class CheckType : uint8_t { Tcp, Http, WebSocket };

struct HealthCheck {
  CheckType type = CheckType::Tcp;
  std::string path = "/";  // http and websocket: the request target (starts with '/')
  Duration interval{2000};
  Duration timeout{1000};  // < interval
  uint32_t rise = 2;       // consecutive successes that bring a down backend up
  uint32_t fall = 3;       // consecutive failures that take an up backend down
};

// Passive ejection: `failures` consecutive connect failures (or resets) take a backend out of
// rotation for `eject_for`.
struct Passive {
  uint32_t failures = 3;
  Duration eject_for{10000};
};

// TLS toward a pool's backends (pools[].backend_tls). The CA file is read and checked at load.
struct BackendTls {
  std::string ca_path;      // as written; "" = the system's default trust store
  std::string ca_pem;       // the CA certificates, as read
  bool verify = true;       // check the backend's certificate chain and name
  std::string server_name;  // SNI and the name verified; "" = the backend address's host
};

// pools[].affinity_cookie (added to the contract): the response that a client gets from a backend
// sets a cookie naming that backend (an HMAC, proxy/http/affinity_cookie.h), and the client's
// next requests carrying it go to that backend while it is usable. For protocols whose session a
// backend creates on the first request (Socket.IO polling, then its upgrade), which no request key
// can hash together.
struct AffinityCookie {
  std::string name = "RINGWAY_AFFINITY";  // an RFC 6265 cookie-name (a token)
  std::string path = "/";
  Duration max_age{0};     // 0: a session cookie (no Max-Age); else Max-Age in whole seconds
  std::string same_site = "Lax";  // the SameSite attribute: Lax, Strict or None (None adds Secure)
  std::string secret;      // the HMAC key; "" = a random key per process (one instance only)
  std::string secret_file; // as written, when the secret was read from a file
};

// pools[].send_proxy_protocol (added to the contract): a PROXY protocol header that ringway writes
// first on each backend connection (and health check), carrying the client's address.
enum class SendProxy : uint8_t { Off, V1, V2 };

struct Pool {
  std::string name;
  std::string hash_key_text = "source_ip";
  lb::HashKeySpec hash_key;
  double balance_factor = 0.0;  // 0 = off
  uint32_t connect_retries = 2;
  Duration drain_timeout{30000};
  std::vector<Backend> backends;
  std::optional<HealthCheck> health_check;
  std::optional<Passive> passive;
  std::optional<BackendTls> backend_tls;  // absent: plain TCP to the backends
  SendProxy send_proxy_protocol = SendProxy::Off;
  std::optional<AffinityCookie> affinity_cookie;  // absent: the hash alone decides
};

struct Route {
  // "" = any; exact, or "*.example.com". Lowercased, since hosts match case-insensitively.
  std::string host;
  std::string path_prefix;  // "" = any
  std::string pool;
};

enum class ListenerMode : uint8_t { Http, Tcp };

enum class TlsVersion : uint8_t { Tls12, Tls13 };

// One certificate chain and its key. The files are read and checked when the configuration loads,
// and their PEM text kept, so that what runs is exactly what was validated (a reload reads them
// again).
struct TlsCertificate {
  std::string cert_path;  // as written
  std::string key_path;
  std::string cert_pem;  // the leaf first, then any intermediates
  std::string key_pem;
};

// TLS termination on a listener (listeners[].tls).
struct ListenerTls {
  std::vector<TlsCertificate> certificates;  // picked by SNI; the first is the default
  TlsVersion min_version = TlsVersion::Tls12;
};

struct Listener {
  std::string name;
  Endpoint bind;
  ListenerMode mode = ListenerMode::Http;
  std::string pool;  // default pool ("" when every request must match a route)
  std::vector<Route> routes;
  std::optional<ListenerTls> tls;  // absent: plain TCP
  bool proxy_protocol = false;     // the peer sends a PROXY v1/v2 header first (before TLS)
};

struct Timeouts {
  Duration connect{5000};
  Duration handshake{10000};
  // Plain HTTP: how long the backend may take to start its response once the request is sent
  // (long-polling holds requests for 20-30 s, so this is NGINX's proxy_read_timeout, not handshake).
  Duration response{60000};
};

struct Limits {
  uint64_t max_connections = 0;         // 0 = unlimited
  uint64_t max_connections_per_ip = 0;  // per client address; 0 = unlimited
  uint64_t max_header_size = uint64_t{16} * 1024;
};

struct Shutdown {
  Duration delay{0};
  Duration drain_timeout{30000};
};

// The WebSocket settings that the proxy enforces on every relayed connection. The loader refuses
// non-zero ping_interval, idle_timeout, messages_per_second and burst until they are implemented.
struct WebSocket {
  uint64_t max_message_size = uint64_t{16} * 1024 * 1024;  // larger: Close 1009
  Duration ping_interval{0};                               // 0 = ringway never pings
  Duration idle_timeout{0};                                // 0 = no idle timeout
  uint32_t messages_per_second = 0;                        // 0 = no rate limit
  uint32_t burst = 0;
};

struct Admin {
  std::optional<Endpoint> bind;
};

// `workers` (added to the contract): event-loop threads, each with its own SO_REUSEPORT listening
// sockets (proxy/worker_pool.h). `auto` (the default) is one per core, uv_available_parallelism().
inline constexpr uint32_t kWorkersAuto = 0;
inline constexpr uint32_t kMaxWorkers = 64;

// `wakeup_coalescing` (added to the contract): while traffic flows, a worker that runs out of work
// sleeps this long and then takes what arrived in one batch, instead of being woken by each arriving
// segment (proxy/worker_loop.h). 0 turns it off. At most kMaxWakeupCoalescingUs, since it can delay
// a message by that much under load.
inline constexpr uint32_t kDefaultWakeupCoalescingUs = 50;
inline constexpr uint32_t kMaxWakeupCoalescingUs = 1000;

struct Config {
  std::string path;  // the file it came from
  std::vector<Listener> listeners;
  std::vector<Pool> pools;
  WebSocket websocket;
  Timeouts timeouts;
  Limits limits;
  Shutdown shutdown;
  Admin admin;
  uint32_t workers = kWorkersAuto;  // 1..kMaxWorkers, or kWorkersAuto
  uint32_t wakeup_coalescing_us = kDefaultWakeupCoalescingUs;  // 0 = off

  // nullptr when no pool has that name.
  [[nodiscard]] const Pool* find_pool(std::string_view name) const;
};

// One problem found in a file, printed as "PATH:LINE:COL: error: MESSAGE" (1-based).
struct ConfigError {
  std::string path;
  int line = 0;
  int column = 0;
  std::string message;

  [[nodiscard]] std::string to_string() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is not empty
  std::vector<ConfigError> errors;       // every error found, in file order
};

LoadResult load_config_file(const std::string& path);
// For tests and reloads: `path` is only used in messages.
LoadResult load_config_text(const std::string& text, const std::string& path);

// "250ms", "5s", "2m", "1h" (a bare "0" is zero too). nullopt when malformed.
std::optional<Duration> parse_duration(std::string_view text);
// "50us", "1ms" (a bare "0" is zero too), at most `max` microseconds. nullopt when malformed or more.
std::optional<uint32_t> parse_microseconds(std::string_view text, uint32_t max);
// "512", "64KiB", "16MiB", "1GiB" (also KB/MB/GB as powers of 1000). nullopt when malformed.
std::optional<uint64_t> parse_size(std::string_view text);
// "host:port" or "[v6]:port" with a port from 1 to 65535 and a non-empty host; nullopt when
// malformed. Host names are kept as written (resolved later); "*" is not special.
std::optional<Endpoint> parse_endpoint(std::string_view text);

}  // namespace ringway::conf
