// tpmeshctl nodes list | show | approve | revoke | restore
#include <ostream>

#include "ctl/common.h"
#include "tpmesh/proto/admin_requests.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::ctl {
namespace {

struct NodeArgs {
  std::string node;
  std::string reason;
};

void RenderList(const proto::NodeListResponse& r, View& v) {
  size_t active = 0, expired = 0;
  Table t({"NODE ID", "HOSTNAME", "STATUS", "ADDRESS", "ENDPOINTS", "LAST SEEN"});
  for (const auto& n : r.nodes) {
    if (n.status == "active") ++active;
    if (n.status == "expired") ++expired;
    std::string endpoints;
    for (const auto& e : n.endpoints) endpoints += (endpoints.empty() ? "" : ",") + e;
    t.AddRow({n.node_id, n.hostname, n.status, n.overlay_address.value_or(""), endpoints,
              FormatAge(n.last_seen, v.now)});
  }
  v.out << "generation " << r.generation << ", mesh " << Sanitize(r.mesh_prefix) << ", " << active
        << " active" << (expired ? ", " + std::to_string(expired) + " expired" : "") << " / "
        << r.nodes.size() << " total\n";
  if (t.rows() == 0) {
    v.out << "no nodes yet (create an enrollment token with 'tpmeshctl tokens create')\n";
    return;
  }
  v.out << "\n" << t.Render();
}

std::string TimeAndAge(int64_t t, int64_t now) {
  return t <= 0 ? "never" : FormatTime(t) + " (" + FormatAge(t, now) + ")";
}

void RenderShow(const proto::NodeView& n, View& v) {
  std::string status = n.status;
  if (!n.status_reason.empty()) status += " (" + n.status_reason + ")";
  std::string endpoints;
  for (const auto& e : n.endpoints) endpoints += (endpoints.empty() ? "" : ", ") + e;
  v.out << RenderFields({
      {"node id", n.node_id},
      {"hostname", n.hostname},
      {"status", status},
      {"overlay address", n.overlay_address.value_or("")},
      {"overlay prefix", n.overlay_prefix.value_or("")},
      {"wireguard key", Base64Encode(n.wg_public_key)},
      {"ek sha256", n.ek_sha256},
      {"endpoints", endpoints},
      {"pcr policy", n.pcr_policy.empty() ? "(none)" : n.pcr_policy},
      {"enrolled", TimeAndAge(n.enrolled_at, v.now)},
      {"updated", TimeAndAge(n.updated_at, v.now)},
      {"last seen", TimeAndAge(n.last_seen, v.now)},
      {"enrollments", std::to_string(n.enroll_count)},
      {"certificate", n.cert_not_after ? (*n.cert_not_after < v.now ? "ended " : "until ") +
                                             TimeAndAge(*n.cert_not_after, v.now)
                                       : "(end not recorded)"},
  });
  if (n.pcrs.empty()) return;
  v.out << "pcrs (last quote):\n";
  for (const auto& [idx, val] : n.pcrs) {  // ascending by index
    v.out << (idx < 10 ? "   " : "  ") << idx << "  " << Sanitize(val) << "\n";
  }
}

void RenderAction(const proto::NodeView& n, View& v) {
  v.out << "node " << Sanitize(n.node_id) << " (" << Sanitize(n.hostname) << ") is now "
        << Sanitize(n.status);
  if (!n.status_reason.empty()) v.out << ": " << Sanitize(n.status_reason);
  v.out << "\n";
}

Result<Request> NodeAction(const NodeArgs& a, const char* verb, bool reason_required) {
  TPMESH_ASSIGN_OR_RETURN(std::string node, CheckPathName(a.node, "node"));
  TPMESH_ASSIGN_OR_RETURN(std::string reason, CheckText(a.reason, "reason"));
  proto::NodeActionRequest body;
  if (HasText(reason)) {
    body.reason = reason;
  } else if (reason_required) {
    return Invalid("reason_required", std::string("nodes ") + verb +
                                          " needs --reason TEXT (recorded in the audit log and "
                                          "shown as the node's status reason)");
  }
  return PostRequest("/v1/admin/nodes/" + EncodePathSegment(node) + "/" + verb, body);
}

}  // namespace

void AddNodesCommands(CLI::App& root, Registry& reg) {
  auto* group = root.add_subcommand("nodes", "list and manage enrolled nodes");
  group->require_subcommand(1);
  auto a = std::make_shared<NodeArgs>();

  auto* list = group->add_subcommand("list", "list nodes")->alias("ls");
  reg.Add(list, {[] {
                   return Result<Request>(Request{"GET", "/v1/admin/nodes", {}});
                 },
                 Typed<proto::NodeListResponse>(proto::ParseNodeListResponse, RenderList)});

  auto* show = group->add_subcommand("show", "show one node in detail");
  show->add_option("node", a->node, "node id or hostname")->required();
  reg.Add(show, {[a]() -> Result<Request> {
                   TPMESH_ASSIGN_OR_RETURN(std::string node, CheckPathName(a->node, "node"));
                   return Request{"GET", "/v1/admin/nodes/" + EncodePathSegment(node), {}};
                 },
                 Typed<proto::NodeView>(proto::ParseNodeView, RenderShow)});

  struct Verb {
    const char* name;
    const char* help;
    bool reason_required;
  };
  for (const Verb& verb : {Verb{"approve", "approve a pending node (pending -> active)", false},
                           Verb{"revoke",
                                "revoke a node: its certificate is refused at once and "
                                "peers drop it with the next config generation",
                                true},
                           Verb{"restore", "allow a revoked node to enroll again", false}}) {
    auto* sub = group->add_subcommand(verb.name, verb.help);
    sub->add_option("node", a->node, "node id or hostname")->required();
    sub->add_option("--reason", a->reason,
                    verb.reason_required ? "why (required; recorded in the audit log)"
                                         : "why (recorded in the audit log)");
    const char* name = verb.name;
    const bool required = verb.reason_required;
    reg.Add(sub, {[a, name, required] { return NodeAction(*a, name, required); },
                  Typed<proto::NodeView>(proto::ParseNodeView, RenderAction)});
  }
}

}  // namespace tpmesh::ctl
