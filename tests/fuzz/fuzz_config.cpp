// The configuration loader (conf/): whatever the file holds, load_config_text neither crashes nor
// throws; it returns a configuration or errors, never both and never neither; every error names the
// file, a line and a column that exist in the text, and prints on one line as
// "PATH:LINE:COL: error: MESSAGE"; errors come in file order; loading twice gives the same answer; a
// loaded configuration keeps the loader's promises (unique names, defined pools, weights in range).
// The value parsers (durations, sizes, endpoints) are fuzzed on their own too.
// Input: [mode][text...]   mode % 4: 0-1 a whole YAML file, 2 a duration or a size, 3 an endpoint.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "fuzz_target.h"

namespace {

using namespace ringway::conf;

bool g_deep = false;

constexpr char kPath[] = "fuzz.yaml";

// Lines in the text, counted as a YAML parser does (LF; a trailing line without LF counts).
int line_count(std::string_view text) {
  return 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

void check_errors(const LoadResult& result, std::string_view text) {
  FUZZ_CHECK((result.config == nullptr) != result.errors.empty());
  const int lines = line_count(text);
  for (size_t i = 0; i < result.errors.size(); ++i) {
    const ConfigError& e = result.errors[i];
    FUZZ_CHECK(e.path == kPath);
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.line >= 0 && e.column >= 0);
    FUZZ_CHECK(e.line <= lines + 1);
    const std::string printed = e.to_string();
    FUZZ_CHECK(printed.rfind(std::string(kPath) + ":", 0) == 0);
    FUZZ_CHECK(printed.find(": error: ") != std::string::npos);
    // One line per error: a message never carries a raw line break (it may quote the text).
    FUZZ_CHECK(printed.find('\n') == std::string::npos && printed.find('\r') == std::string::npos);
    if (i > 0) {
      const ConfigError& p = result.errors[i - 1];
      FUZZ_CHECK(p.line < e.line || (p.line == e.line && p.column <= e.column));
    }
  }
}

void check_config(const Config& config) {
  g_deep = true;
  FUZZ_CHECK(config.path == kPath);
  FUZZ_CHECK(!config.listeners.empty() && !config.pools.empty());
  std::set<std::string> listener_names;
  for (const Listener& l : config.listeners) {
    FUZZ_CHECK(!l.name.empty() && listener_names.insert(l.name).second);
    FUZZ_CHECK(l.bind.port != 0 && !l.bind.host.empty());
    FUZZ_CHECK(l.pool.empty() || config.find_pool(l.pool) != nullptr);
    for (const Route& r : l.routes) FUZZ_CHECK(config.find_pool(r.pool) != nullptr);
  }
  std::set<std::string> pool_names;
  for (const Pool& p : config.pools) {
    FUZZ_CHECK(!p.name.empty() && pool_names.insert(p.name).second);
    FUZZ_CHECK(config.find_pool(p.name) == &p);
    FUZZ_CHECK(p.balance_factor == 0.0 || p.balance_factor > 1.0);
    FUZZ_CHECK(!p.backends.empty());
    std::set<std::string> backend_names;
    for (const Backend& b : p.backends) {
      FUZZ_CHECK(!b.name.empty() && backend_names.insert(b.name).second);
      FUZZ_CHECK(b.weight >= 1 && b.weight <= 1000);
      FUZZ_CHECK(b.address.port != 0 && !b.address.host.empty());
    }
    if (p.health_check) FUZZ_CHECK(p.health_check->rise >= 1 && p.health_check->fall >= 1);
  }
  if (config.admin.bind) FUZZ_CHECK(config.admin.bind->port != 0);
}

void load(std::string_view text) {
  const std::string input(text);
  LoadResult first;
  try {
    first = load_config_text(input, kPath);
  } catch (...) {
    FUZZ_CHECK(!"load_config_text threw");
  }
  check_errors(first, text);
  if (first.config) check_config(*first.config);
  // The same text gives the same answer.
  const LoadResult second = load_config_text(input, kPath);
  FUZZ_CHECK(second.errors.size() == first.errors.size());
  for (size_t i = 0; i < first.errors.size(); ++i) {
    FUZZ_CHECK(second.errors[i].to_string() == first.errors[i].to_string());
  }
}

void values(std::string_view text) {
  if (const auto d = parse_duration(text)) {
    g_deep = true;
    FUZZ_CHECK(d->count() >= 0);
    // A valid duration is digits and a unit: nothing before, nothing after.
    FUZZ_CHECK(!text.empty() && text.front() >= '0' && text.front() <= '9');
  }
  if (const auto s = parse_size(text)) {
    g_deep = true;
    FUZZ_CHECK(!text.empty() && text.front() >= '0' && text.front() <= '9');
    (void)*s;
  }
}

void endpoint(std::string_view text) {
  const auto e = parse_endpoint(text);
  if (!e) return;
  g_deep = true;
  FUZZ_CHECK(e->port >= 1 && !e->host.empty());
  FUZZ_CHECK(e->text == text);
  FUZZ_CHECK(e->host.find('[') == std::string::npos && e->host.find(']') == std::string::npos);
  // The text ends with ":PORT".
  std::string suffix = ":";  // appended, not operator+: GCC 12 -Wrestrict false positive
  suffix += std::to_string(e->port);
  FUZZ_CHECK(text.size() > suffix.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_deep = false;
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 2: values(text); break;
    case 3: endpoint(text); break;
    default: load(text); break;
  }
  return 0;
}

namespace ringway::fuzz {

bool last_input_was_deep() { return g_deep; }

std::vector<std::string> seeds() {
  const std::string full =
      "listeners:\n"
      "  - name: public\n"
      "    bind: \"127.0.0.1:8080\"\n"
      "    pool: chat\n"
      "    routes:\n"
      "      - host: \"*.example.com\"\n"
      "        path_prefix: \"/ws\"\n"
      "        pool: chat\n"
      "pools:\n"
      "  - name: chat\n"
      "    hash_key: \"header:X-User\"\n"
      "    balance_factor: 1.25\n"
      "    connect_retries: 2\n"
      "    drain_timeout: 30s\n"
      "    backends:\n"
      "      - name: chat-1\n"
      "        address: \"127.0.0.1:9001\"\n"
      "        weight: 2\n"
      "      - name: chat-2\n"
      "        address: \"[::1]:9002\"\n"
      "        backup: true\n"
      "websocket:\n"
      "  max_message_size: 16MiB\n"
      "  ping_interval: 30s\n"
      "  idle_timeout: 5m\n"
      "  messages_per_second: 100\n"
      "  burst: 0\n"
      "limits:\n"
      "  max_connections: 10000\n"
      "  max_connections_per_ip: 50\n"
      "  max_header_size: 16KiB\n"
      "timeouts:\n"
      "  connect: 5s\n"
      "  handshake: 10s\n"
      "shutdown:\n"
      "  delay: 0s\n"
      "  drain_timeout: 30s\n"
      "admin:\n"
      "  bind: \"127.0.0.1:9901\"\n";
  const std::string flow =
      "{listeners: [{name: a, bind: '0.0.0.0:80', pool: p}], pools: [{name: p, hash_key: path, "
      "backends: [{name: b, address: 'localhost:1', weight: 1000}]}]}\n";
  const std::string errors =
      "listeners:\n  - name: public\n    bind: \"127.0.0.1:99999\"\n    pool: chatt\n"
      "pools:\n  - name: chat\n    hash_key: cookie\n    backends:\n      - name: a\n        wieght: 1\n"
      "websocket:\n  ping_interval: 5\n";
  return {
      std::string(1, '\0') + full,
      std::string(1, '\0') + flow,
      std::string(1, '\0') + errors,
      std::string(1, '\0') + "listeners: []\npools: []\n---\nsecond: doc\n",
      std::string(1, '\0') + "a: &x [*x]\nlisteners: {<<: *x}\n",
      std::string(1, '\2') + "250ms",
      std::string(1, '\2') + "64KiB",
      std::string(1, '\2') + "18446744073709551615GiB",
      std::string(1, '\3') + "[::1]:65535",
      std::string(1, '\3') + "host.example:0",
  };
}

std::vector<std::string> dictionary() {
  return {"listeners:", "pools:", "websocket:", "limits:", "timeouts:", "shutdown:", "admin:", "name: ",
          "bind: ", "mode: ", "pool: ", "routes:", "host: ", "path_prefix: ", "tls:", "proxy_protocol: ",
          "hash_key: ", "source_ip", "header:", "cookie:", "query:", "path", "balance_factor: ",
          "connect_retries: ", "drain_timeout: ", "backends:", "address: ", "weight: ", "backup: ",
          "drain: ", "health_check:", "type: ", "interval: ", "timeout: ", "rise: ", "fall: ", "passive:",
          "failures: ", "eject_for: ", "max_message_size: ", "ping_interval: ", "idle_timeout: ",
          "messages_per_second: ", "burst: ", "max_connections: ", "max_connections_per_ip: ",
          "max_header_size: ", "connect: ", "handshake: ", "delay: ", "\n  - ", "\n    ", "ms", "s", "m",
          "h", "KiB", "MiB", "GiB", "KB", "MB", "GB", "127.0.0.1:", "[::1]:", "\"", "'", "{", "}", "[", "]",
          ", ", "&a ", "*a", "<<: ", "---\n", "!!str ", "true", "false", "~", "null", "1e3", "-1",
          "0x10", "18446744073709551616"};
}

}  // namespace ringway::fuzz
