// Connection caps of the server (ServerLimits): in total, anonymous in total
// and anonymous per source. Pure bookkeeping, used on the event loop only;
// not thread-safe. Internal to tpmesh_net.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "tpmesh/net/http.h"

namespace tpmesh::net::internal {

// The unit a per-source cap counts: an IPv4 address ("192.0.2.7"), or an
// IPv6 /64 ("2001:db8:1:2::/64"); IPv4-mapped IPv6 is its IPv4 address.
// `ip` is an address in text form; anything else is its own key.
std::string SourceKey(std::string_view ip);

class ConnectionLimits {
 public:
  explicit ConnectionLimits(const ServerLimits& limits) : limits_(limits) {}

  enum class Admit {
    kAccept,     // counted as anonymous until Authenticated
    kProbation,  // over an anonymous cap: counted as anonymous and on
                 // probation; must present a client certificate
    kRefuse,     // not counted: close it at once
  };
  // A new connection from source key `source`. Probation is bounded too
  // (a quarter of max_anonymous, at least 16): beyond it, kRefuse, so that
  // anonymous connections can never fill max_connections.
  Admit Open(const std::string& source);
  // Its handshake gave a verified client certificate; `probation` as admitted.
  void Authenticated(const std::string& source, bool probation);
  // It closed; `anonymous` and `probation` as still counted.
  void Close(const std::string& source, bool anonymous, bool probation);

  size_t open() const { return open_; }
  size_t anonymous() const { return anonymous_; }
  size_t probation() const { return probation_; }
  size_t anonymous_from(const std::string& source) const;

 private:
  ServerLimits limits_;
  size_t open_ = 0;
  size_t anonymous_ = 0;
  size_t probation_ = 0;
  std::unordered_map<std::string, size_t> per_source_;  // anonymous connections; no zero entries
};

}  // namespace tpmesh::net::internal
