// wsecho: WebSocket echo backend for ringway's demo, integration tests and benchmarks.
//
//   wsecho --listen HOST:PORT [--id NAME] [--hello] [--reject STATUS]
//
// Prints "wsecho NAME listening on HOST:PORT" (the real port, so port 0 works) once it accepts, and
// exits 0 on SIGTERM or SIGINT after closing every connection.
#include <sys/resource.h>
#include <uv.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "tools/wsecho/echo_server.h"

namespace {

constexpr const char* kUsage =
    "usage: wsecho --listen HOST:PORT [--id NAME] [--hello] [--reject STATUS]\n"
    "  --listen HOST:PORT  address to listen on ([v6]:port accepted; port 0 picks a free port)\n"
    "  --id NAME           backend name, reported in X-Backend and backend=NAME (default wsecho)\n"
    "  --hello             send the text message backend=NAME in the same write as the 101\n"
    "  --reject STATUS     answer every upgrade with STATUS and the body \"rejected by NAME\\n\"\n"
    "text messages: __whoami__, __headers__, __drop__, __close__ [CODE [REASON]]; others are echoed\n";

int usage_error(const char* what) {
  std::fprintf(stderr, "wsecho: %s\n%s", what, kUsage);
  return 2;
}

bool parse_int(std::string_view text, int& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_listen(std::string_view text, wsecho::Options& opts) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  if (!parse_int(text.substr(colon + 1), port) || port < 0 || port > 65535) {
    return false;
  }
  opts.host.assign(host);
  opts.port = static_cast<uint16_t>(port);
  return true;
}

// Thousands of concurrent test connections need more descriptors than the usual soft limit.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

struct Signals {
  uv_signal_t term{};
  uv_signal_t intr{};
  wsecho::EchoServer* server = nullptr;
};

void on_signal(uv_signal_t* handle, int /*signum*/) {
  auto* signals = static_cast<Signals*>(handle->data);
  signals->server->stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&signals->term), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&signals->intr), nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  wsecho::Options opts;
  bool have_listen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--listen" && has_value) {
      if (!parse_listen(argv[++i], opts)) {
        return usage_error("--listen wants HOST:PORT");
      }
      have_listen = true;
    } else if (arg == "--id" && has_value) {
      opts.id = argv[++i];
    } else if (arg == "--hello") {
      opts.hello = true;
    } else if (arg == "--reject" && has_value) {
      if (!parse_int(argv[++i], opts.reject_status) || opts.reject_status < 200 || opts.reject_status > 599 ||
          opts.reject_status == 101) {
        return usage_error("--reject wants an HTTP status from 200 to 599");
      }
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      return usage_error(("unknown or incomplete argument: " + std::string(arg)).c_str());
    }
  }
  if (!have_listen) {
    return usage_error("--listen is required");
  }

  std::signal(SIGPIPE, SIG_IGN);  // a peer that vanished mid-write is an error code, not a death
  raise_fd_limit();

  uv_loop_t loop;
  uv_loop_init(&loop);
  wsecho::EchoServer server(&loop, opts);
  // Signal watchers go first, so that a SIGTERM sent as soon as the process exists is a clean stop.
  Signals signals;
  signals.server = &server;
  signals.term.data = &signals;
  signals.intr.data = &signals;
  uv_signal_init(&loop, &signals.term);
  uv_signal_init(&loop, &signals.intr);
  uv_signal_start(&signals.term, on_signal, SIGTERM);
  uv_signal_start(&signals.intr, on_signal, SIGINT);

  std::string bound;
  int status = 0;
  if (const int rc = server.start(bound); rc != 0) {
    std::fprintf(stderr, "wsecho %s: cannot listen on %s:%u: %s\n", opts.id.c_str(), opts.host.c_str(),
                 static_cast<unsigned>(opts.port), uv_strerror(rc));
    on_signal(&signals.term, 0);  // the same teardown as a signal: every handle closed
    status = 1;
  } else {
    std::printf("wsecho %s listening on %s\n", opts.id.c_str(), bound.c_str());
    std::fflush(stdout);  // tests and scripts wait for this line through a pipe
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // until a signal (or a failed start) has closed every handle
  uv_loop_close(&loop);
  return status;
}
