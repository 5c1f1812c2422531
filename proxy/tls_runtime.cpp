// TLS contexts for a runtime snapshot: one server context set per TLS listener, one client context
// per pool with backend_tls. Built with every reload, from the PEM text conf read and checked, so
// new handshakes get new certificates while established connections keep their own.
#include "proxy/runtime.h"
#include "proxy/tls/client_context.h"
#include "proxy/tls/server_context.h"

namespace ringway {

bool attach_tls(Runtime& runtime, const tls::TicketKeys& keys, std::vector<std::string>& errors) {
  const size_t before = errors.size();
  for (ListenerRuntime& listener : runtime.listeners) {
    if (!listener.config->tls) continue;
    auto built = tls::ServerTlsContext::build(*listener.config->tls, keys);
    if (!built.context) {
      errors.push_back("listener \"" + listener.config->name + "\": " + built.error);
      continue;
    }
    listener.tls = std::move(built.context);
  }
  for (auto& pool : runtime.pools) {
    if (!pool->config->backend_tls) continue;
    auto built = tls::ClientTlsContext::build(*pool->config->backend_tls);
    if (!built.context) {
      errors.push_back("pool \"" + pool->config->name + "\" backend_tls: " + built.error);
      continue;
    }
    pool->backend_tls = std::move(built.context);
  }
  return errors.size() == before;
}

}  // namespace ringway
