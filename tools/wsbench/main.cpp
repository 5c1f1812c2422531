// wsbench: a WebSocket load generator for ringway's benchmarks (and for HAProxy and NGINX next to it).
//
// Exit status: 0 after a run (errors during the window are reported, not fatal), 1 when the setup
// failed (a connection could not be opened or upgraded), 2 on a usage error, 3 when an echo came back
// different from what was sent: errors echo_corrupted, echo_reordered, echo_misrouted or
// unexpected_message (see load.h).
#include <sys/resource.h>
#include <uv.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "tools/wsbench/load.h"

namespace {

constexpr const char* kUsage =
    "usage: wsbench --url ws://HOST:PORT/PATH [options]\n"
    "  --connections N     connections (connect mode: at most N at once)       default 1\n"
    "  --mode M            pingpong | stream | hold (alias: idle) | connect     default pingpong\n"
    "  --size BYTES        message payload size (connect mode: 0 = no message) default 64\n"
    "  --inflight K        stream mode: messages in flight per connection      default 16\n"
    "  --duration SECONDS  measured window                                     default 5\n"
    "  --warmup SECONDS    traffic before the window (pingpong/stream)         default 1\n"
    "  --header \"N: V\"     extra request header, {i} = connection index (repeatable)\n"
    "  --rate R            connect mode: new connections per second (0 = closed loop);\n"
    "                      other modes: pace the setup at R connections per second\n"
    "  --pid PID           sample this process's CPU time and RSS (repeatable)\n"
    "  --reconnect         reopen a connection the server closed (same index, same headers)\n"
    "  --interval MS       count closes and reconnects per MS over the window (timeline)\n"
    "  --verify-end        hold mode: after the window, one echo of --size bytes on every connection\n"
    "  --threads N         loaders, one libuv loop and thread each; connection i on thread i % N  default 1\n"
    "  --sources N         bind connection i to 127.0.0.(1 + i % N) before connecting, to pass the\n"
    "                      ephemeral-port limit of one address (IPv4 targets)   default: no bind\n"
    "  --setup-concurrency N  handshakes in progress at once during setup     default 256\n"
    "  --setup-timeout S   give up (exit 1) if the N connections are not open by then  default 30\n"
    "  --json              also print one JSON object (last line of stdout)\n"
    "Every echo is checked byte for byte and in order; messages of 16 bytes or more carry a tag\n"
    "(connection, sequence, check word) that tells corrupted, reordered and misrouted echoes apart.\n"
    "Exit: 0 done, 1 setup failed, 2 usage, 3 an echo came back wrong.\n";

int usage_error(const std::string& what) {
  std::fprintf(stderr, "wsbench: %s\n%s", what.c_str(), kUsage);
  return 2;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_double(const char* text, double& out) {
  char* end = nullptr;
  out = std::strtod(text, &end);
  return end != text && *end == '\0' && out >= 0;
}

bool parse_url(std::string_view url, wsbench::Options& o) {
  if (!url.starts_with("ws://")) {
    return false;
  }
  url.remove_prefix(5);
  const auto slash = url.find('/');
  const std::string_view authority = url.substr(0, slash);
  o.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  o.host_header = std::string(authority);
  std::string_view host;
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos || close + 1 >= authority.size() || authority[close + 1] != ':') {
      return false;
    }
    host = authority.substr(1, close - 1);
    port = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) {
      host = authority;
      port = "80";
    } else {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
  }
  unsigned p = 0;
  if (host.empty() || !parse_number(port, p) || p == 0 || p > 65535) {
    return false;
  }
  o.host = std::string(host);
  o.port = static_cast<uint16_t>(p);
  return true;
}

const char* mode_name(wsbench::Mode m) {
  switch (m) {
    case wsbench::Mode::PingPong: return "pingpong";
    case wsbench::Mode::Stream: return "stream";
    case wsbench::Mode::Hold: return "hold";
    case wsbench::Mode::Connect: return "connect";
  }
  return "?";
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string histogram_json(const wsbench::Histogram& h) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"count\":%llu,\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}",
                static_cast<unsigned long long>(h.count()), h.mean() / 1e3, h.percentile(0.50) / 1e3,
                h.percentile(0.90) / 1e3, h.percentile(0.99) / 1e3, h.percentile(0.999) / 1e3,
                static_cast<double>(h.max()) / 1e3);
  return buf;
}

std::string us_text(double ns) {
  char buf[32];
  if (ns >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
  }
  return buf;
}

void print_human(const wsbench::Options& o, const wsbench::Report& r) {
  const double secs = r.window_s > 0 ? r.window_s : 1.0;
  std::printf("wsbench %s %s: %d connections, %zu B", mode_name(o.mode), o.url.c_str(), o.connections, o.size);
  if (o.mode == wsbench::Mode::Stream) {
    std::printf(" x %d in flight", o.inflight);
  }
  std::printf(", %d thread%s", r.threads, r.threads == 1 ? "" : "s");
  if (o.sources > 0) {
    std::printf(", %d source%s", o.sources, o.sources == 1 ? "" : "s");
  }
  std::printf(", window %.2f s, %d open at start, %d open at end\n", r.window_s, r.connected_at_start, r.live_at_end);
  if (o.mode != wsbench::Mode::Hold) {
    std::printf("  messages %llu (%.0f/s), %.2f MB/s echoed payload\n", static_cast<unsigned long long>(r.messages),
                static_cast<double>(r.messages) / secs, static_cast<double>(r.bytes) / secs / 1e6);
  }
  if (o.mode == wsbench::Mode::Connect) {
    std::printf("  cycles %llu (%.0f/s), upgrades %llu\n", static_cast<unsigned long long>(r.cycles),
                static_cast<double>(r.cycles) / secs, static_cast<unsigned long long>(r.upgrades));
  }
  const auto& h = r.latency;
  if (h.count() > 0) {
    std::printf("  %s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
                o.mode == wsbench::Mode::Connect ? "cycle" : "round trip",
                us_text(static_cast<double>(h.percentile(0.5))).c_str(), us_text(static_cast<double>(h.percentile(0.9))).c_str(),
                us_text(static_cast<double>(h.percentile(0.99))).c_str(),
                us_text(static_cast<double>(h.percentile(0.999))).c_str(), us_text(static_cast<double>(h.max())).c_str());
  }
  if (r.handshake.count() > 0) {
    std::printf("  handshake p50 %s  p99 %s  max %s (%llu)\n", us_text(static_cast<double>(r.handshake.percentile(0.5))).c_str(),
                us_text(static_cast<double>(r.handshake.percentile(0.99))).c_str(),
                us_text(static_cast<double>(r.handshake.max())).c_str(),
                static_cast<unsigned long long>(r.handshake.count()));
  }
  std::printf("  errors:");
  if (r.errors.empty()) {
    std::printf(" none");
  }
  for (const auto& [kind, n] : r.errors) {
    std::printf(" %s=%llu", kind.c_str(), static_cast<unsigned long long>(n));
  }
  std::printf("  closes by server:");
  if (r.closes.empty()) {
    std::printf(" none");
  }
  for (const auto& [code, n] : r.closes) {
    std::printf(" %u=%llu", code, static_cast<unsigned long long>(n));
  }
  std::printf("  reconnects: %llu\n", static_cast<unsigned long long>(r.reconnects));
  if (r.probed > 0) {
    std::printf("  verify: %llu of %llu connections echoed after the window\n",
                static_cast<unsigned long long>(r.probe_ok), static_cast<unsigned long long>(r.probed));
  }
  if (!r.timeline.empty()) {
    std::printf("  timeline (per %d ms) closes:", o.interval_ms);
    for (const auto& b : r.timeline) {
      std::printf(" %llu", static_cast<unsigned long long>(b.closes));
    }
    std::printf("\n  timeline (per %d ms) reconnects:", o.interval_ms);
    for (const auto& b : r.timeline) {
      std::printf(" %llu", static_cast<unsigned long long>(b.reconnects));
    }
    std::printf("\n");
  }
  std::printf("  client cpu %.3f s\n", static_cast<double>(r.client_cpu_us) / 1e6);
  for (const auto& p : r.pids) {
    const uint64_t cpu = p.end.cpu_us - p.start.cpu_us;
    std::printf("  pid %d: cpu %.3f s (user %.3f, sys %.3f)", p.pid, static_cast<double>(cpu) / 1e6,
                static_cast<double>(p.end.utime_us - p.start.utime_us) / 1e6,
                static_cast<double>(p.end.stime_us - p.start.stime_us) / 1e6);
    if (r.messages > 0) {
      std::printf(", %.2f us/message", static_cast<double>(cpu) / static_cast<double>(r.messages));
    }
    std::printf("; rss %llu KiB before, %llu at start, %llu at end%s\n", static_cast<unsigned long long>(p.before.rss_kib),
                static_cast<unsigned long long>(p.start.rss_kib), static_cast<unsigned long long>(p.end.rss_kib),
                p.end.ok ? "" : " (process gone)");
  }
}

void print_json(const wsbench::Options& o, const wsbench::Report& r) {
  const double secs = r.window_s > 0 ? r.window_s : 1.0;
  std::string out = "{";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "\"mode\":\"%s\",\"url\":\"%s\",\"connections\":%d,\"threads\":%d,\"sources\":%d,\"size\":%zu,"
                "\"inflight\":%d,\"window_s\":%.4f,"
                "\"open_at_start\":%d,\"open_at_end\":%d,\"messages\":%llu,\"messages_per_s\":%.1f,\"bytes\":%llu,"
                "\"bytes_per_s\":%.1f,\"upgrades\":%llu,\"cycles\":%llu,\"cycles_per_s\":%.1f,\"reconnects\":%llu,"
                "\"probed\":%llu,\"probe_ok\":%llu,\"client_cpu_us\":%llu,",
                mode_name(o.mode), json_escape(o.url).c_str(), o.connections, r.threads, o.sources, o.size,
                o.mode == wsbench::Mode::Stream ? o.inflight : 1, r.window_s, r.connected_at_start, r.live_at_end,
                static_cast<unsigned long long>(r.messages), static_cast<double>(r.messages) / secs,
                static_cast<unsigned long long>(r.bytes), static_cast<double>(r.bytes) / secs,
                static_cast<unsigned long long>(r.upgrades), static_cast<unsigned long long>(r.cycles),
                static_cast<double>(r.cycles) / secs, static_cast<unsigned long long>(r.reconnects),
                static_cast<unsigned long long>(r.probed), static_cast<unsigned long long>(r.probe_ok),
                static_cast<unsigned long long>(r.client_cpu_us));
  out += buf;
  out += "\"latency_us\":" + histogram_json(r.latency) + ",\"handshake_us\":" + histogram_json(r.handshake);
  out += ",\"errors\":{";
  bool first = true;
  for (const auto& [kind, n] : r.errors) {
    out += first ? "\"" : ",\"";
    out += json_escape(kind);
    out += "\":";
    out += std::to_string(n);
    first = false;
  }
  out += "},\"closes\":{";
  first = true;
  for (const auto& [code, n] : r.closes) {
    out += first ? "\"" : ",\"";
    out += std::to_string(code);
    out += "\":";
    out += std::to_string(n);
    first = false;
  }
  out += "},\"timeline\":{\"interval_ms\":" + std::to_string(o.interval_ms) + ",\"closes\":[";
  for (std::size_t i = 0; i < r.timeline.size(); ++i) {
    out += i == 0 ? "" : ",";
    out += std::to_string(r.timeline[i].closes);
  }
  out += "],\"reconnects\":[";
  for (std::size_t i = 0; i < r.timeline.size(); ++i) {
    out += i == 0 ? "" : ",";
    out += std::to_string(r.timeline[i].reconnects);
  }
  out += "]},\"pids\":[";
  uint64_t cpu_total = 0;
  for (std::size_t i = 0; i < r.pids.size(); ++i) {
    const auto& p = r.pids[i];
    const uint64_t cpu = p.end.cpu_us - p.start.cpu_us;
    cpu_total += cpu;
    std::snprintf(buf, sizeof buf,
                  "%s{\"pid\":%d,\"cpu_us\":%llu,\"utime_us\":%llu,\"stime_us\":%llu,\"rss_before_kib\":%llu,"
                  "\"rss_start_kib\":%llu,\"rss_end_kib\":%llu,\"alive_at_end\":%s}",
                  i == 0 ? "" : ",", p.pid, static_cast<unsigned long long>(cpu),
                  static_cast<unsigned long long>(p.end.utime_us - p.start.utime_us),
                  static_cast<unsigned long long>(p.end.stime_us - p.start.stime_us),
                  static_cast<unsigned long long>(p.before.rss_kib), static_cast<unsigned long long>(p.start.rss_kib),
                  static_cast<unsigned long long>(p.end.rss_kib), p.end.ok ? "true" : "false");
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "],\"pids_cpu_us\":%llu}", static_cast<unsigned long long>(cpu_total));
  out += buf;
  std::printf("%s\n", out.c_str());
}

void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  wsbench::Options o;
  o.inflight = 16;
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    const auto bad = [&](const char* what) { return usage_error(std::string(arg) + " wants " + what); };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--json") {
      o.json = true;
    } else if (arg == "--reconnect") {
      o.reconnect = true;
    } else if (arg == "--verify-end") {
      o.verify_end = true;
    } else if (!has_value) {
      return usage_error("unknown or incomplete argument: " + std::string(arg));
    } else if (arg == "--url") {
      o.url = argv[++i];
      if (!parse_url(o.url, o)) {
        return bad("ws://HOST:PORT/PATH");
      }
      have_url = true;
    } else if (arg == "--connections") {
      if (!parse_number(std::string_view(argv[++i]), o.connections) || o.connections < 1) {
        return bad("a count >= 1");
      }
    } else if (arg == "--mode") {
      const std::string_view m = argv[++i];
      if (m == "pingpong") {
        o.mode = wsbench::Mode::PingPong;
      } else if (m == "stream") {
        o.mode = wsbench::Mode::Stream;
      } else if (m == "hold" || m == "idle") {
        o.mode = wsbench::Mode::Hold;
      } else if (m == "connect") {
        o.mode = wsbench::Mode::Connect;
      } else {
        return bad("pingpong, stream, hold (idle) or connect");
      }
    } else if (arg == "--size") {
      if (!parse_number(std::string_view(argv[++i]), o.size) || o.size > 64UL * 1024 * 1024) {
        return bad("a size in bytes up to 64 MiB");
      }
    } else if (arg == "--inflight") {
      if (!parse_number(std::string_view(argv[++i]), o.inflight) || o.inflight < 1 || o.inflight > 100000) {
        return bad("a count from 1 to 100000");
      }
    } else if (arg == "--duration") {
      if (!parse_double(argv[++i], o.duration) || o.duration <= 0) {
        return bad("seconds > 0");
      }
    } else if (arg == "--warmup") {
      if (!parse_double(argv[++i], o.warmup)) {
        return bad("seconds >= 0");
      }
    } else if (arg == "--header") {
      const std::string h = argv[++i];
      if (h.find(':') == std::string::npos || h.find_first_of("\r\n") != std::string::npos) {
        return bad("\"Name: value\"");
      }
      o.headers.push_back(h);
    } else if (arg == "--rate") {
      if (!parse_double(argv[++i], o.rate)) {
        return bad("connections per second >= 0");
      }
    } else if (arg == "--pid") {
      int pid = 0;
      if (!parse_number(std::string_view(argv[++i]), pid) || pid <= 0) {
        return bad("a process id");
      }
      o.pids.push_back(pid);
    } else if (arg == "--interval") {
      if (!parse_number(std::string_view(argv[++i]), o.interval_ms) || o.interval_ms < 1) {
        return bad("milliseconds >= 1");
      }
    } else if (arg == "--threads") {
      if (!parse_number(std::string_view(argv[++i]), o.threads) || o.threads < 1 || o.threads > 256) {
        return bad("a count from 1 to 256");
      }
    } else if (arg == "--sources") {
      if (!parse_number(std::string_view(argv[++i]), o.sources) || o.sources < 1 || o.sources > 254) {
        return bad("a count from 1 to 254");
      }
    } else if (arg == "--setup-concurrency") {
      if (!parse_number(std::string_view(argv[++i]), o.setup_concurrency) || o.setup_concurrency < 1) {
        return bad("a count >= 1");
      }
    } else if (arg == "--setup-timeout") {
      if (!parse_double(argv[++i], o.setup_timeout) || o.setup_timeout <= 0) {
        return bad("seconds > 0");
      }
    } else {
      return usage_error("unknown argument: " + std::string(arg));
    }
  }
  if (!have_url) {
    return usage_error("--url is required");
  }
  if (o.mode == wsbench::Mode::Hold && o.verify_end && o.size == 0) {
    return usage_error("--verify-end needs --size > 0");
  }

  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  wsbench::Report report;
  std::string fatal;
  int status = wsbench::run_load(o, report, fatal);
  if (status != 0) {
    std::fprintf(stderr, "wsbench: setup failed: %s\n", fatal.c_str());
  }
  print_human(o, report);
  if (o.json) {
    print_json(o, report);
  }
  if (status == 0) {
    std::string wrong;
    for (const auto& [kind, n] : report.errors) {
      if (wsbench::is_verification_error(kind)) {
        wrong += " " + kind + "=" + std::to_string(n);
      }
    }
    if (!wrong.empty()) {
      std::fprintf(stderr, "wsbench: echoes came back wrong:%s\n", wrong.c_str());
      status = 3;
    }
  }
  return status;
}
