// Endpoints that follow the host: a member's acknowledgement carries its
// current underlay endpoints; a change is published in the next generation
// (docs/protocol.md, "Acknowledgement").
#include "mesh_view.h"
#include "service_util.h"
#include "tpmesh/authority/service.h"

namespace tpmesh::authority {
namespace {

using internal::NodeNotFound;
using internal::Usable;

std::string JoinEndpoints(const std::vector<std::string>& e) {
  std::string out = "[";
  for (const auto& s : e) out += (out.size() > 1 ? ", " : "") + s;
  return out + "]";
}

}  // namespace

Status AuthorityService::ReportEndpoints(std::string_view node_id,
                                         const std::vector<std::string>& endpoints) {
  TPMESH_RETURN_IF_ERROR(EnsureView());
  auto current = view_->EndpointsOf(node_id);
  if (!current || *current == endpoints) return OkStatus();
  const std::string id(node_id);
  const int64_t now = Now();
  {
    std::lock_guard<std::mutex> lock(endpoints_mu_);
    int64_t& last = endpoints_changed_at_[id];
    if (last != 0 && now - last < kEndpointChangeIntervalSeconds) return OkStatus();
    last = now;
  }
  const std::string what = JoinEndpoints(*current) + " -> " + JoinEndpoints(endpoints);
  Status pub = BumpAndPublish([&](Tx& tx, int64_t) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto n, tx.FindNodeById(id));
    if (!n) return NodeNotFound(id);
    if (!Usable(*n)) {
      return MakeError(Code::kFailedPrecondition, "node_not_active",
                       "node " + id + " is not active");
    }
    n->endpoints = endpoints;
    n->updated_at = now;
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*n));
    return tx.AppendAudit(
        AuditEntry{0, now, "node:" + id, "node.endpoints", id, "reported by the node", what});
  });
  if (Committed(pub)) Log("node " + id + " moved: endpoints " + what);
  return pub;
}

}  // namespace tpmesh::authority
