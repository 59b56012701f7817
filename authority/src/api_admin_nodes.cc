// /v1/admin/nodes: the node list, one node, approve, revoke, restore.
#include <cstring>
#include <string_view>

#include "api_internal.h"
#include "tpmesh/proto/admin_requests.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::authority::internal {

namespace {
constexpr const char* kNodesPrefix = "/v1/admin/nodes/";  // the route table matched it
}  // namespace

using net::HttpResponse;

proto::NodeView NodeViewOf(const NodeRecord& n, const MeshPrefix& mesh, int64_t now) {
  proto::NodeView v;
  v.node_id = n.node_id;
  v.hostname = n.hostname;
  v.status = NodeCertExpired(n, now) ? "expired" : NodeStatusName(n.status);
  v.status_reason = n.status_reason;
  if (NodeCertExpired(n, now)) v.status_reason = "its node certificate ended; it must enroll again";
  if (n.cert_not_after != 0) v.cert_not_after = n.cert_not_after;
  v.ek_sha256 = HexEncode(n.ek_sha256);
  v.wg_public_key = n.wg_public_key;
  v.endpoints = n.endpoints;
  v.pcr_policy = n.pcr_policy;
  for (const auto& [pcr, value] : n.pcr_values) v.pcrs.emplace_back(pcr, HexEncode(value));
  v.enrolled_at = n.enrolled_at;
  v.updated_at = n.updated_at;
  v.last_seen = n.last_seen;
  v.enroll_count = n.enroll_count;
  if (n.subnet) {
    v.overlay_prefix = SubnetPrefix(mesh, *n.subnet);
    v.overlay_address = NodeAddress(mesh, *n.subnet);
  }
  return v;
}

HttpResponse NodeAnswer(const Result<NodeRecord>& n, const AuthorityService& service) {
  if (!n.ok()) return net::ErrorResponse(n.error());
  return JsonText(200, proto::ToJson(NodeViewOf(*n, service.settings().mesh_prefix,
                                                ToUnixSeconds(service.clock().Now()))));
}

HttpResponse AdminNodesList(AdminCall& call) {
  if (!call.NoBody()) return call.Bad();
  const MeshPrefix& mesh = call.service().settings().mesh_prefix;
  auto nodes = call.service().ListNodes();
  if (!nodes.ok()) return net::ErrorResponse(nodes.error());
  auto gen = call.service().Generation();
  // last_seen: the store has enrollments and renewals; an ack since then
  // (kept in memory) is more recent.
  const auto reports = call.service().Reports();
  proto::NodeListResponse out{gen.ok() ? *gen : 0, mesh.ToString(), {}};
  const int64_t now = ToUnixSeconds(call.service().clock().Now());
  out.nodes.reserve(nodes->size());
  for (const auto& n : *nodes) {
    proto::NodeView v = NodeViewOf(n, mesh, now);
    if (auto it = reports.find(n.node_id); it != reports.end() && it->second.at > n.last_seen) {
      v.last_seen = it->second.at;
    }
    out.nodes.push_back(std::move(v));
  }
  return JsonText(200, proto::ToJson(out));
}

HttpResponse AdminNode(AdminCall& call) {
  // /v1/admin/nodes/<ref>[/approve|/revoke|/restore]
  const std::string_view rest = std::string_view(call.req().path).substr(std::strlen(kNodesPrefix));
  const size_t slash = rest.find('/');
  const std::string_view ref = rest.substr(0, slash);
  const bool has_verb = slash != std::string_view::npos;
  const std::string verb(has_verb ? rest.substr(slash + 1) : "");
  if (ref.empty() || (has_verb && verb != "approve" && verb != "revoke" && verb != "restore")) {
    return call.NotFound();
  }
  const std::string& method = call.req().method;
  if ((method == "GET") != verb.empty() || (method != "GET" && method != "POST")) {
    return call.NotFound();
  }
  auto id = proto::CanonicalNodeRef(ref, "node");
  if (!id.ok()) return net::ErrorResponse(id.error());
  AuthorityService& s = call.service();
  if (verb.empty()) {
    if (!call.NoBody()) return call.Bad();
    return NodeAnswer(s.GetNode(*id), s);
  }
  auto body = call.Body(proto::ParseNodeActionRequest);
  if (!body) return call.Bad();
  const std::string& reason = body->reason;
  if (verb == "approve") {
    return NodeAnswer(s.Approve(*id, call.actor(), reason.empty() ? "approved by admin" : reason),
                      s);
  }
  if (verb == "revoke") return NodeAnswer(s.Revoke(*id, call.actor(), reason), s);
  return NodeAnswer(s.Restore(*id, call.actor(), reason), s);
}

}  // namespace tpmesh::authority::internal
