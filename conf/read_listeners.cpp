// listeners: [{name, bind, mode, pool, routes, tls, proxy_protocol}]
#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

#include "conf/sections.h"
#include "conf/values.h"

namespace ringway::conf {
namespace {

constexpr std::array<std::string_view, 7> kListenerKeys = {
    "name", "bind", "mode", "pool", "routes", "tls", "proxy_protocol"};
constexpr std::array<std::string_view, 3> kRouteKeys = {"host", "path_prefix", "pool"};

// Exact ("chat.example.com") or one leading wildcard label ("*.example.com").
bool is_route_host(std::string_view host) {
  if (host.starts_with("*.")) {
    host.remove_prefix(2);
  }
  const auto is_host_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
  };
  return !host.empty() && !host.starts_with('.') && !host.ends_with('.') &&
         host.find("..") == std::string_view::npos && std::ranges::all_of(host, is_host_char);
}

std::string lowercase(std::string text) {
  std::ranges::transform(text, text.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return text;
}

void read_route(const Field& item, Route& out, Mark& pool_mark, Diagnostics& diag) {
  MapReader map(item, kRouteKeys, diag);
  if (!map.is_map()) {
    return;
  }
  if (const auto field = map.get("host")) {
    const auto host = field->node.IsScalar() ? field->node.Scalar() : std::string();
    if (is_route_host(host)) {
      out.host = lowercase(host);
    } else {
      type_error(*field, R"(a host name such as "chat.example.com" or "*.example.com")", diag);
    }
  }
  if (const auto field = map.get("path_prefix")) {
    if (field->node.IsScalar() && field->node.Scalar().starts_with('/')) {
      out.path_prefix = field->node.Scalar();
    } else {
      type_error(*field, R"(a path starting with "/")", diag);
    }
  }
  if (const auto field = map.require("pool")) {
    pool_mark = field->value();
    assign(read_string(*field, diag), out.pool);
  }
}

void read_mode(const Field& field, ListenerMode& out, Diagnostics& diag) {
  const std::string text = field.node.IsScalar() ? field.node.Scalar() : std::string();
  if (text == "http") {
    out = ListenerMode::Http;
  } else if (text == "tcp") {
    out = ListenerMode::Tcp;
  } else {
    type_error(field, R"("http" or "tcp")", diag);
  }
}

// Routes are optional, but then every request needs the default pool.
bool has_routes(const std::optional<Field>& routes) {
  return routes && !routes->node.IsNull() &&
         (!routes->node.IsSequence() || routes->node.size() > 0);
}

void read_listener(const Field& item, Listener& out, ListenerMarks& marks, Diagnostics& diag) {
  marks.item = item.value();
  MapReader map(item, kListenerKeys, diag);
  if (!map.is_map()) {
    return;
  }
  if (const auto field = map.require("name")) {
    marks.name = field->value();
    assign(read_name(*field, diag), out.name);
  }
  if (const auto field = map.require("bind")) {
    marks.bind = field->value();
    assign(read_endpoint(*field, diag), out.bind);
  }
  if (const auto field = map.get("mode")) {
    read_mode(*field, out.mode, diag);
  }
  const auto pool = map.get("pool");
  if (pool) {
    marks.pool = pool->value();
    assign(read_string(*pool, diag), out.pool);
  }
  const auto routes = map.get("routes");
  if (routes) {
    for (const Field& route_item : list_items(*routes, diag)) {
      read_route(route_item, out.routes.emplace_back(), marks.route_pools.emplace_back(), diag);
    }
  }
  const bool tcp = out.mode == ListenerMode::Tcp;
  if (tcp && has_routes(routes)) {
    // A tcp listener never parses HTTP, so there is no host or path to route on: its pool takes all.
    diag.error(routes->value(), routes->name() +
                                    R"(: routes need HTTP; a "tcp" listener sends every connection to its "pool")");
  }
  if (!pool && (tcp || !has_routes(routes))) {
    diag.error(map.field().value(),
               map.field().name() + (tcp ? R"(: missing required key "pool" (a "tcp" listener has no routes))"
                                         : R"(: missing required key "pool" (required unless "routes" is given))"));
  }
  if (const auto field = map.get("tls")) {
    out.tls = read_listener_tls(*field, diag);
  }
  if (const auto field = map.get("proxy_protocol")) {
    assign(read_bool(*field, diag), out.proxy_protocol);
  }
}

}  // namespace

void read_listeners(const Field& field, Config& config, SourceMarks& marks, Diagnostics& diag) {
  const auto items = list_items(field, diag);
  if (items.empty() && (field.node.IsNull() || field.node.IsSequence())) {
    diag.error(field.value(), field.name() + ": expected at least one listener");
  }
  for (const Field& item : items) {
    read_listener(item, config.listeners.emplace_back(), marks.listeners.emplace_back(), diag);
  }
}

}  // namespace ringway::conf
