// Prometheus text exposition format, version 0.0.4: families with # HELP and # TYPE, samples with
// escaped label values, histograms as cumulative _bucket{le} lines with _sum and _count. Pure (no
// libuv, no ringway state), so that it is unit-tested on its own.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ringway::metrics {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

using Label = std::pair<std::string_view, std::string_view>;

class TextWriter {
 public:
  // Starts a family: every sample of it must follow before the next family starts.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  // One histogram series: `counts` are per bucket, not cumulative, the last one being +Inf (so
  // counts.size() == bounds.size() + 1); `bounds` and `sum` are in the exposed unit.
  void histogram(std::string_view name, std::initializer_list<Label> labels, std::span<const double> bounds,
                 std::span<const uint64_t> counts, double sum);
  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void series(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
              std::string_view le = {});
  std::string out_;
};

// Label value escaping of the text format: backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view value);
// HELP text escaping: backslash and line feed.
void append_help(std::string& out, std::string_view text);
// A sample value or an `le` bound: shortest round-trip form; +Inf, -Inf and NaN as Prometheus spells them.
std::string format_value(double value);

}  // namespace ringway::metrics
