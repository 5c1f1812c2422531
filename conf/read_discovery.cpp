// backends[].discover: none | dns and backends[].interval (only with dns, > 0).
#include "conf/sections.h"
#include "conf/values.h"

namespace ringway::conf {

void read_backend_discovery(const std::optional<Field>& discover, const std::optional<Field>& interval,
                            Backend& out, Diagnostics& diag) {
  bool known = true;
  if (discover) {
    const std::string text = discover->node.IsScalar() ? discover->node.Scalar() : std::string();
    if (text == "none") {
      out.discover = Discover::None;
    } else if (text == "dns") {
      out.discover = Discover::Dns;
    } else {
      known = false;
      type_error(*discover, "none or dns", diag);
    }
  }
  if (!interval) return;
  if (known && out.discover != Discover::Dns) {
    diag.error(interval->key, interval->name() + ": only with discover: dns (how often the name is resolved again)");
    return;
  }
  assign(read_duration(*interval, Zero::Refused, diag), out.interval);
}

}  // namespace ringway::conf
