// pools: [{name, hash_key, balance_factor, connect_retries, backends: [...], ...}]
#include <array>
#include <string_view>

#include "conf/sections.h"
#include "conf/values.h"

namespace ringway::conf {
namespace {

constexpr std::array<std::string_view, 8> kPoolKeys = {
    "name",          "hash_key", "balance_factor", "connect_retries",
    "drain_timeout", "backends", "health_check",   "passive"};
constexpr std::array<std::string_view, 5> kBackendKeys = {"name", "address", "weight", "backup",
                                                          "drain"};

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

// Keys that the contract describes but that are not implemented: refused rather than ignored, so
// that nobody believes they are protected by a health check that never runs.
void refuse_unsupported(const MapReader& map, Diagnostics& diag) {
  if (const auto field = map.get("health_check")) {
    diag.error(field->key, field->name() + ": active health checks are not supported yet");
  }
  if (const auto field = map.get("passive")) {
    diag.error(field->key, field->name() + ": passive health checks are not supported yet");
  }
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
  refuse_unsupported(map, diag);
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
