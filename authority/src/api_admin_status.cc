// /v1/admin/status: which active nodes applied the current generation, and
// what each sees of its peers.
#include <map>

#include "api_internal.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;

HttpResponse AdminStatus(AdminCall& call) {
  if (!call.NoBody()) return call.Bad();
  AuthorityService& s = call.service();
  auto nodes = s.ListNodes();
  if (!nodes.ok()) return net::ErrorResponse(nodes.error());
  auto gen = s.Generation();
  if (!gen.ok()) return net::ErrorResponse(gen.error());
  auto reports = s.Reports();
  std::map<std::string, std::string> host_of_key;
  for (const auto& n : *nodes) host_of_key[Base64Encode(n.wg_public_key)] = n.hostname;
  proto::StatusResponse out;
  out.generation = *gen;
  out.waiting = call.publisher() ? static_cast<int64_t>(call.publisher()->waiting()) : 0;
  const int64_t now = ToUnixSeconds(s.clock().Now());
  for (const auto& n : *nodes) {
    if (n.status != NodeStatus::kActive) continue;
    const bool expired = NodeCertExpired(n, now);
    ++(expired ? out.expired : out.active);
    proto::StatusNode e{n.node_id,    n.hostname,   expired ? "expired" : "active",
                        std::nullopt, std::nullopt, std::nullopt};
    if (auto it = reports.find(n.node_id); it != reports.end()) {
      e.applied_generation = it->second.applied_generation;
      e.reported_at = it->second.at;
      if (it->second.applied_generation == *gen) ++out.converged;
      e.peers.emplace();
      for (const auto& p : it->second.peers) {
        std::string key = Base64Encode(p.public_key);
        auto host = host_of_key.find(key);
        e.peers->push_back({key, host == host_of_key.end() ? "" : host->second, p.last_handshake,
                            p.rx_bytes, p.tx_bytes});
      }
    }
    out.nodes.push_back(std::move(e));
  }
  return JsonText(200, proto::ToJson(out));
}

}  // namespace tpmesh::authority::internal
