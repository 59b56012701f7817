// /v1/admin/status: which active nodes applied the current generation, and
// what each sees of its peers.
#include <map>

#include "api_internal.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;

namespace {

// Which address families `endpoints` has: bit 1 IPv6, bit 2 IPv4.
int Families(const std::vector<std::string>& endpoints) {
  int f = 0;
  for (const auto& e : endpoints) f |= (!e.empty() && e.front() == '[') ? 1 : 2;
  return f;
}

// Pairs of usable members that share no address family: the IPv4-only ones
// times the IPv6-only ones (a node without endpoints can still dial out).
void UnreachablePairs(const std::vector<const NodeRecord*>& members, proto::StatusResponse& out) {
  std::vector<const NodeRecord*> v4, v6;
  for (const NodeRecord* n : members) {
    const int f = Families(n->endpoints);
    if (f == 1) v6.push_back(n);
    if (f == 2) v4.push_back(n);
  }
  out.unreachable_pairs = static_cast<int64_t>(v4.size() * v6.size());
  for (const NodeRecord* a : v4) {
    for (const NodeRecord* b : v6) {
      if (out.unreachable.size() >= proto::kMaxStatusPairs) return;
      const bool a_first = a->node_id < b->node_id;
      out.unreachable.push_back({a_first ? a->node_id : b->node_id,
                                 a_first ? b->node_id : a->node_id,
                                 "no common address family: " + a->hostname +
                                     " has only IPv4 "
                                     "endpoints, " +
                                     b->hostname + " only IPv6"});
    }
  }
}

}  // namespace

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
  std::vector<const NodeRecord*> members;
  for (const auto& n : *nodes) {
    if (n.status != NodeStatus::kActive) continue;
    const bool expired = NodeCertExpired(n, now);
    if (!expired) members.push_back(&n);
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
  UnreachablePairs(members, out);
  return JsonText(200, proto::ToJson(out));
}

}  // namespace tpmesh::authority::internal
