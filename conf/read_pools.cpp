// pools: [{name, hash_key, balance_factor, connect_retries, backends: [...], ...}]
#include <algorithm>
#include <array>
#include <string_view>

#include "conf/sections.h"
#include "conf/values.h"

namespace ringway::conf {
namespace {

constexpr std::array<std::string_view, 11> kPoolKeys = {
    "name",          "hash_key", "balance_factor", "connect_retries",
    "drain_timeout", "backends", "health_check",   "passive", "backend_tls", "affinity_cookie",
    "send_proxy_protocol"};
constexpr std::array<std::string_view, 7> kBackendKeys = {"name",  "address",  "weight",  "backup",
                                                          "drain", "discover", "interval"};
constexpr std::array<std::string_view, 6> kHealthCheckKeys = {"type",    "path", "interval",
                                                              "timeout", "rise", "fall"};
constexpr std::array<std::string_view, 2> kPassiveKeys = {"failures", "eject_for"};
constexpr uint64_t kMaxRiseFall = 100;
constexpr uint64_t kMaxPassiveFailures = 1000;

constexpr uint64_t kMinWeight = 1;
constexpr uint64_t kMaxWeight = 1000;
constexpr uint64_t kMaxConnectRetries = 100;
// Bounded loads only make sense above an even share; 1.0 would leave no backend any slack.
constexpr double kMinBalanceFactor = 1.0;

void read_backend(const Field& item, Backend& out, Mark& name_mark, Diagnostics& diag) {
  name_mark = item.value();
  MapReader map(item, kBackendKeys, diag);
  if (!map.is_map()) {
    return;
  }
  if (const auto field = map.require("name")) {
    name_mark = field->value();
    assign(read_name(*field, diag), out.name);
  }
  if (const auto field = map.require("address")) {
    assign(read_endpoint(*field, diag), out.address);
  }
  if (const auto field = map.get("weight")) {
    assign(read_integer(*field, kMinWeight, kMaxWeight, diag), out.weight);
  }
  if (const auto field = map.get("backup")) {
    assign(read_bool(*field, diag), out.backup);
  }
  if (const auto field = map.get("drain")) {
    assign(read_bool(*field, diag), out.drain);
  }
  read_backend_discovery(map.get("discover"), map.get("interval"), out, diag);  // read_discovery.cpp
}

void read_hash_key(const Field& field, Pool& out, Diagnostics& diag) {
  const auto spec =
      field.node.IsScalar() ? lb::parse_hash_key_spec(field.node.Scalar()) : std::nullopt;
  if (!spec) {
    type_error(field, "source_ip, path, header:NAME, cookie:NAME or query:NAME", diag);
    return;
  }
  out.hash_key_text = field.node.Scalar();
  out.hash_key = *spec;
}

// send_proxy_protocol: v1 | v2 (absent: no header).
void read_send_proxy(const Field& field, SendProxy& out, Diagnostics& diag) {
  const std::string text = field.node.IsScalar() ? field.node.Scalar() : std::string();
  if (text == "v1") {
    out = SendProxy::V1;
  } else if (text == "v2") {
    out = SendProxy::V2;
  } else {
    type_error(field, R"("v1" or "v2")", diag);
  }
}

// health_check: {type, path, interval, timeout, rise, fall}; an empty map takes every default.
HealthCheck read_health_check(const Field& field, Diagnostics& diag) {
  HealthCheck out;
  const MapReader map(field, kHealthCheckKeys, diag, true);
  if (!map.is_map()) {
    return out;
  }
  bool type_known = true;
  if (const auto value = map.get("type")) {
    const std::string text = value->node.IsScalar() ? value->node.Scalar() : std::string();
    if (text == "tcp") {
      out.type = CheckType::Tcp;
    } else if (text == "http") {
      out.type = CheckType::Http;
    } else if (text == "websocket") {
      out.type = CheckType::WebSocket;
    } else {
      type_known = false;
      type_error(*value, "tcp, http or websocket", diag);
    }
  }
  if (const auto value = map.get("path")) {
    // The path goes into a request line as is: no whitespace or control characters.
    const std::string text = value->node.IsScalar() ? value->node.Scalar() : std::string();
    const bool clean = std::ranges::none_of(
        text, [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
    if (!text.starts_with('/') || !clean) {
      type_error(*value, "a path that starts with \"/\" (no spaces)", diag);
    } else if (out.type == CheckType::Tcp && type_known) {
      diag.error(value->key, value->name() + ": a tcp check sends no request (path is for http and websocket)");
    } else {
      out.path = text;
    }
  }
  std::optional<Field> interval = map.get("interval");
  std::optional<Field> timeout = map.get("timeout");
  bool times_ok = true;
  if (interval) {
    const auto value = read_duration(*interval, Zero::Refused, diag);
    times_ok = value.has_value();
    assign(value, out.interval);
  }
  if (timeout) {
    const auto value = read_duration(*timeout, Zero::Refused, diag);
    times_ok = times_ok && value.has_value();
    assign(value, out.timeout);
  }
  if (times_ok && out.timeout >= out.interval) {
    // Point at what the operator wrote (the timeout if given, else the interval).
    const Field& at = timeout ? *timeout : *interval;
    diag.error(at.value(), field.name() + ".timeout: must be shorter than the interval (timeout " +
                               (timeout ? timeout->node.Scalar() : "1s") + ", interval " +
                               (interval ? interval->node.Scalar() : "2s") + ")");
  }
  if (const auto value = map.get("rise")) {
    assign(read_integer(*value, 1, kMaxRiseFall, diag), out.rise);
  }
  if (const auto value = map.get("fall")) {
    assign(read_integer(*value, 1, kMaxRiseFall, diag), out.fall);
  }
  return out;
}

// passive: {failures, eject_for}
Passive read_passive(const Field& field, Diagnostics& diag) {
  Passive out;
  const MapReader map(field, kPassiveKeys, diag, true);
  if (!map.is_map()) {
    return out;
  }
  if (const auto value = map.get("failures")) {
    assign(read_integer(*value, 1, kMaxPassiveFailures, diag), out.failures);
  }
  if (const auto value = map.get("eject_for")) {
    assign(read_duration(*value, Zero::Refused, diag), out.eject_for);
  }
  return out;
}

void read_pool(const Field& item, Pool& out, PoolMarks& marks, Diagnostics& diag) {
  marks.item = item.value();
  marks.name = item.value();
  MapReader map(item, kPoolKeys, diag);
  if (!map.is_map()) {
    return;
  }
  if (const auto field = map.require("name")) {
    marks.name = field->value();
    assign(read_name(*field, diag), out.name);
  }
  if (const auto field = map.get("hash_key")) {
    read_hash_key(*field, out, diag);
  }
  if (const auto field = map.get("balance_factor")) {
    assign(read_number_above(*field, kMinBalanceFactor, diag), out.balance_factor);
  }
  if (const auto field = map.get("connect_retries")) {
    assign(read_integer(*field, 0, kMaxConnectRetries, diag), out.connect_retries);
  }
  if (const auto field = map.get("drain_timeout")) {
    assign(read_duration(*field, Zero::Allowed, diag), out.drain_timeout);
  }
  if (const auto field = map.require("backends")) {
    const auto items = list_items(*field, diag);
    if (items.empty() && (field->node.IsNull() || field->node.IsSequence())) {
      diag.error(field->value(), field->name() + ": expected at least one backend");
    }
    for (const Field& backend : items) {
      read_backend(backend, out.backends.emplace_back(), marks.backend_names.emplace_back(), diag);
    }
  }
  if (const auto field = map.get("health_check")) {
    out.health_check = read_health_check(*field, diag);
  }
  if (const auto field = map.get("passive")) {
    out.passive = read_passive(*field, diag);
  }
  if (const auto field = map.get("send_proxy_protocol")) {
    read_send_proxy(*field, out.send_proxy_protocol, diag);
  }
  if (const auto field = map.get("backend_tls")) {
    out.backend_tls = read_backend_tls(*field, diag);
    // The probes speak plain HTTP; a TLS backend would fail them and be marked down for nothing.
    const auto check = map.get("health_check");
    if (check && out.health_check && out.health_check->type != CheckType::Tcp) {
      diag.error(check->key, check->name() +
                                 ": http and websocket checks of a pool with backend_tls are not "
                                 "supported yet (use type: tcp)");
    }
  }
  if (const auto field = map.get("affinity_cookie")) {
    out.affinity_cookie = read_affinity_cookie(*field, diag);
  }
}

}  // namespace

void read_pools(const Field& field, Config& config, SourceMarks& marks, Diagnostics& diag) {
  const auto items = list_items(field, diag);
  if (items.empty() && (field.node.IsNull() || field.node.IsSequence())) {
    diag.error(field.value(), field.name() + ": expected at least one pool");
  }
  for (const Field& item : items) {
    read_pool(item, config.pools.emplace_back(), marks.pools.emplace_back(), diag);
  }
}

}  // namespace ringway::conf
