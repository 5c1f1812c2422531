#include "proxy/runtime.h"

#include <algorithm>
#include <cctype>

#include "health/hooks.h"
#include "proxy/discovery.h"
#include "proxy/net.h"

namespace ringway {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

// Host header without the port: "chat.example.com:8080" -> "chat.example.com", "[::1]:80" -> "[::1]".
std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool host_matches(std::string_view pattern, std::string_view host) {
  if (pattern.empty()) return true;
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() &&
           iequals(host.substr(host.size() - suffix.size()), suffix);
  }
  return iequals(pattern, host);
}

// The pool's cookie table, over its backends as built (discovered ones included), by name.
std::unique_ptr<const http::AffinityCookie> build_affinity(const PoolRuntime& pool) {
  const conf::AffinityCookie& c = *pool.config->affinity_cookie;
  http::AffinityCookie::Options options;
  options.name = c.name;
  options.path = c.path;
  options.max_age_seconds = static_cast<uint64_t>(c.max_age.count() / 1000);
  options.same_site = c.same_site;
  options.key = c.secret.empty() ? http::process_affinity_key() : c.secret;
  std::vector<std::string_view> names;
  names.reserve(pool.backends.size());
  for (const auto& backend : pool.backends) names.push_back(backend->config->name);
  return std::make_unique<const http::AffinityCookie>(std::move(options), pool.config->name, names);
}

}  // namespace

size_t PoolRuntime::backend_index(std::string_view name) const {
  for (size_t i = 0; i < backends.size(); ++i) {
    if (backends[i]->config->name == name) return i;
  }
  return std::string_view::npos;
}

const PoolRuntime* ListenerRuntime::route(std::string_view host_header, std::string_view target) const {
  const std::string_view host = strip_port(host_header);
  for (const RouteRuntime& r : routes) {
    if (!host_matches(r.host, host)) continue;
    if (!r.path_prefix.empty() && target.substr(0, r.path_prefix.size()) != r.path_prefix) continue;
    return r.pool;
  }
  return default_pool;
}

PoolRuntime* Runtime::find_pool(std::string_view name) const {
  for (const auto& pool : pools) {
    if (pool->config->name == name) return pool.get();
  }
  return nullptr;
}

namespace {
std::string identity(const std::string& pool, const std::string& backend) {
  return pool + '\0' + backend;  // names cannot contain NUL, so identities never collide
}
}  // namespace

std::shared_ptr<health::BackendState> BackendRegistry::get_or_create(const std::string& pool,
                                                                     const std::string& backend,
                                                                     bool& created) {
  auto& slot = states_[identity(pool, backend)];
  created = slot == nullptr;
  if (created) slot = std::make_shared<health::BackendState>();
  return slot;
}

std::shared_ptr<health::BackendState> BackendRegistry::find(const std::string& pool,
                                                            const std::string& backend) const {
  const auto it = states_.find(identity(pool, backend));
  return it == states_.end() ? nullptr : it->second;
}

void BackendRegistry::retain_only(const Runtime& runtime) {
  std::map<std::string, std::shared_ptr<health::BackendState>> kept;
  for (const auto& pool : runtime.pools) {
    for (const auto& backend : pool->backends) {
      kept.emplace(identity(pool->config->name, backend->config->name), backend->state);
    }
  }
  states_.swap(kept);
}

std::shared_ptr<Runtime> build_runtime(std::shared_ptr<const conf::Config> config, uint64_t generation,
                                       BackendRegistry& registry, const Runtime* previous,
                                       std::vector<std::string>& errors,
                                       const conf::DiscoveredAddresses* discovered) {
  auto runtime = std::make_shared<Runtime>();
  runtime->config = config;
  runtime->generation = generation;
  // A rebuild for new DNS answers: the rest of the configuration is what was resolved last time.
  const bool same_config = previous != nullptr && previous->config == config;

  for (const conf::Pool& pool_config : config->pools) {
    std::vector<std::unique_ptr<conf::Backend>> owned;
    const std::vector<const conf::Backend*> expanded = conf::expand_backends(pool_config, discovered, owned);
    std::vector<lb::BackendEntry> entries;
    entries.reserve(expanded.size());
    for (const conf::Backend* b : expanded) {
      entries.push_back(lb::BackendEntry{b->name, b->weight, b->backup});
    }
    if (auto problem = lb::SelectionTable::validate(entries)) {  // only DNS answers can get here
      errors.push_back("pool \"" + pool_config.name + "\": " + *problem);
      continue;
    }
    auto pool = std::make_unique<PoolRuntime>(lb::SelectionTable(std::move(entries)));
    pool->config = &pool_config;
    pool->discovered = std::move(owned);
    const PoolRuntime* previous_pool = previous != nullptr ? previous->find_pool(pool_config.name) : nullptr;
    for (const conf::Backend* expanded_backend : expanded) {
      const conf::Backend& b = *expanded_backend;
      auto backend = std::make_unique<BackendRuntime>();
      backend->config = &b;
      bool created = false;
      backend->state = registry.get_or_create(pool_config.name, b.name, created);
      if (created) health::on_backend_created(*backend->state, pool_config);  // Unknown when checked
      // `drain:` in the file wins when the backend is new or when that key changed; otherwise the
      // state set at run time (admin drain/undrain) stays.
      const size_t before = previous_pool != nullptr ? previous_pool->backend_index(b.name) : std::string_view::npos;
      const bool drain_key_changed =
          before != std::string_view::npos && previous_pool->backends[before]->config->drain != b.drain;
      if (created || drain_key_changed) backend->state->draining.store(b.drain, std::memory_order_relaxed);
      pool->active.push_back(&backend->state->active);
      std::string error;
      const bool kept_address = same_config && before != std::string_view::npos;
      const auto address = kept_address               ? std::optional(previous_pool->backends[before]->address)
                           : b.discovered_from.empty() ? net::resolve(b.address, error)
                                                       : discovery::numeric_address(b.address, error);
      if (address) {
        backend->address = *address;
        backend->address_text = net::address_text(*address);
      } else {
        errors.push_back("pool \"" + pool_config.name + "\" backend \"" + b.name + "\": " + error);
      }
      pool->backends.push_back(std::move(backend));
    }
    if (pool_config.affinity_cookie) pool->affinity = build_affinity(*pool);
    runtime->pools.push_back(std::move(pool));
  }

  for (const conf::Listener& listener_config : config->listeners) {
    ListenerRuntime listener;
    listener.config = &listener_config;
    std::string error;
    const size_t index = runtime->listeners.size();
    const auto address = same_config && index < previous->listeners.size()
                             ? std::optional(previous->listeners[index].bind)
                             : net::resolve(listener_config.bind, error);
    if (address) {
      listener.bind = *address;
    } else {
      errors.push_back("listener \"" + listener_config.name + "\": " + error);
    }
    if (!listener_config.pool.empty()) listener.default_pool = runtime->find_pool(listener_config.pool);
    for (const conf::Route& r : listener_config.routes) {
      listener.routes.push_back(RouteRuntime{lower(r.host), r.path_prefix, runtime->find_pool(r.pool)});
    }
    runtime->listeners.push_back(std::move(listener));
  }
  if (!errors.empty()) return nullptr;
  return runtime;
}

}  // namespace ringway
