// tpmeshctl nodes list | show | approve | revoke | restore
#include <algorithm>
#include <cstdlib>
#include <ostream>

#include "ctl/common.h"

namespace tpmesh::ctl {
namespace {

struct NodeArgs {
  std::string node;
  std::string reason;
};

void RenderList(const json& r, View& v) {
  const json& nodes = JArr(r, "nodes");
  size_t active = 0;
  Table t({"NODE ID", "HOSTNAME", "STATUS", "ADDRESS", "ENDPOINTS", "LAST SEEN"});
  for (const auto& n : nodes) {
    if (JStr(n, "status") == "active") ++active;
    t.AddRow({JStr(n, "node_id"), JStr(n, "hostname"), JStr(n, "status"), JStr(n, "overlay_address"),
              Join(JArr(n, "endpoints"), ","), FormatAge(JInt(n, "last_seen"), v.now)});
  }
  v.out << "generation " << JInt(r, "generation") << ", mesh " << Sanitize(JStr(r, "mesh_prefix"))
        << ", " << active << " active / " << nodes.size() << " total\n";
  if (t.rows() == 0) {
    v.out << "no nodes yet (create an enrollment token with 'tpmeshctl tokens create')\n";
    return;
  }
  v.out << "\n" << t.Render();
}

std::string TimeAndAge(const json& n, const char* key, int64_t now) {
  const int64_t t = JInt(n, key);
  return t <= 0 ? "never" : FormatTime(t) + " (" + FormatAge(t, now) + ")";
}

void RenderShow(const json& n, View& v) {
  std::string status = JStr(n, "status");
  if (!JStr(n, "status_reason").empty()) status += " (" + JStr(n, "status_reason") + ")";
  v.out << RenderFields({
      {"node id", JStr(n, "node_id")},
      {"hostname", JStr(n, "hostname")},
      {"status", status},
      {"overlay address", JStr(n, "overlay_address")},
      {"overlay prefix", JStr(n, "overlay_prefix")},
      {"wireguard key", JStr(n, "wg_public_key")},
      {"ek sha256", JStr(n, "ek_sha256")},
      {"endpoints", Join(JArr(n, "endpoints"), ", ")},
      {"pcr policy", JStr(n, "pcr_policy").empty() ? "(none)" : JStr(n, "pcr_policy")},
      {"enrolled", TimeAndAge(n, "enrolled_at", v.now)},
      {"updated", TimeAndAge(n, "updated_at", v.now)},
      {"last seen", TimeAndAge(n, "last_seen", v.now)},
      {"enrollments", std::to_string(JInt(n, "enroll_count"))},
  });
  auto pcrs = n.find("pcrs");
  if (pcrs == n.end() || !pcrs->is_object() || pcrs->empty()) return;
  std::vector<std::pair<int, std::string>> sorted;  // keys are decimal strings: sort numerically
  for (const auto& [k, val] : pcrs->items()) {
    sorted.emplace_back(std::atoi(k.c_str()), val.is_string() ? val.get<std::string>() : val.dump());
  }
  std::sort(sorted.begin(), sorted.end());
  v.out << "pcrs (last quote):\n";
  for (const auto& [idx, val] : sorted) {
    v.out << (idx < 10 ? "   " : "  ") << idx << "  " << Sanitize(val) << "\n";
  }
}

void RenderAction(const json& n, View& v) {
  v.out << "node " << Sanitize(JStr(n, "node_id")) << " (" << Sanitize(JStr(n, "hostname")) << ") is now "
        << Sanitize(JStr(n, "status"));
  if (!JStr(n, "status_reason").empty()) v.out << ": " << Sanitize(JStr(n, "status_reason"));
  v.out << "\n";
}

Result<Request> NodeAction(const NodeArgs& a, const char* verb, bool reason_required) {
  TPMESH_ASSIGN_OR_RETURN(std::string node, CheckPathName(a.node, "node"));
  TPMESH_ASSIGN_OR_RETURN(std::string reason, CheckText(a.reason, "reason"));
  json body = json::object();
  if (HasText(reason)) {
    body["reason"] = reason;
  } else if (reason_required) {
    return Invalid("reason_required", std::string("nodes ") + verb +
                                          " needs --reason TEXT (recorded in the audit log and "
                                          "shown as the node's status reason)");
  }
  return Request{"POST", "/v1/admin/nodes/" + EncodePathSegment(node) + "/" + verb, body};
}

}  // namespace

void AddNodesCommands(CLI::App& root, Registry& reg) {
  auto* group = root.add_subcommand("nodes", "list and manage enrolled nodes");
  group->require_subcommand(1);
  auto a = std::make_shared<NodeArgs>();

  auto* list = group->add_subcommand("list", "list nodes")->alias("ls");
  reg.Add(list, {[] { return Result<Request>(Request{"GET", "/v1/admin/nodes", {}}); }, RenderList});

  auto* show = group->add_subcommand("show", "show one node in detail");
  show->add_option("node", a->node, "node id or hostname")->required();
  reg.Add(show, {[a]() -> Result<Request> {
                   TPMESH_ASSIGN_OR_RETURN(std::string node, CheckPathName(a->node, "node"));
                   return Request{"GET", "/v1/admin/nodes/" + EncodePathSegment(node), {}};
                 },
                 RenderShow});

  struct Verb {
    const char* name;
    const char* help;
    bool reason_required;
  };
  for (const Verb& verb : {Verb{"approve", "approve a pending node (pending -> active)", false},
                           Verb{"revoke", "revoke a node: its certificate is refused at once and "
                                          "peers drop it with the next config generation", true},
                           Verb{"restore", "allow a revoked node to enroll again", false}}) {
    auto* sub = group->add_subcommand(verb.name, verb.help);
    sub->add_option("node", a->node, "node id or hostname")->required();
    sub->add_option("--reason", a->reason,
                    verb.reason_required ? "why (required; recorded in the audit log)"
                                         : "why (recorded in the audit log)");
    const char* name = verb.name;
    const bool required = verb.reason_required;
    reg.Add(sub, {[a, name, required] { return NodeAction(*a, name, required); }, RenderAction});
  }
}

}  // namespace tpmesh::ctl
