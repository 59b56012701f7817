// tpmeshctl keys list | rotate, and the top-level shortcut `tpmeshctl rotate`.
//
// Rotation itself is the authority's job (keyrotate/: two-phase WireGuard
// key rotation with prepare/confirm/commit); these commands only request a
// rotation and show the keys and where each node's rotation stands.
#include <algorithm>
#include <optional>
#include <ostream>

#include "ctl/common.h"

namespace tpmesh::ctl {
namespace {

struct RotateArgs {
  std::vector<std::string> nodes;
  bool all = false;
  std::string reason;
};

// POST /v1/admin/keys/rotate: {"nodes": [...]} or {"all": true}, plus "reason".
Result<Request> BuildRotate(const RotateArgs& a) {
  if (a.all && !a.nodes.empty()) {
    return Invalid("conflicting_options",
                   "rotate takes either --node NODE (repeatable) or --all, not both");
  }
  if (!a.all && a.nodes.empty()) {
    return Invalid("missing_nodes",
                   "rotate needs --node NODE (id or hostname; repeat for more nodes) or --all");
  }
  json body = json::object();
  if (a.all) {
    body["all"] = true;
  } else {
    std::vector<std::string> nodes;  // in the order given, duplicates dropped
    for (const auto& n : a.nodes) {
      TPMESH_ASSIGN_OR_RETURN(std::string node, CheckPathName(n, "node"));
      if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) nodes.push_back(node);
    }
    body["nodes"] = nodes;
  }
  TPMESH_ASSIGN_OR_RETURN(std::string reason, CheckText(a.reason, "reason"));
  if (HasText(reason)) body["reason"] = reason;
  return Request{"POST", "/v1/admin/keys/rotate", body};
}

// A node's name for people: its hostname, else its id.
std::string NodeName(const json& n) {
  std::string name = JStr(n, "hostname");
  return name.empty() ? JStr(n, "node_id") : name;
}

void RenderRotate(const json& r, View& v) {
  std::string names;
  size_t count = 0;
  for (const auto& n : JArr(r, "requested")) {
    ++count;
    names += (names.empty() ? "" : ", ") + NodeName(n);
  }
  v.out << "rotation requested for " << count << " node(s)" << (names.empty() ? "" : ": ")
        << Sanitize(names) << " (generation " << JInt(r, "generation") << ")\n"
        << "watch it with 'tpmeshctl keys list'\n";
}

// The member `key` of `j` if both are objects, else nullptr.
const json* Object(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? &*it : nullptr;
}

// An integer member, or nothing when absent or of another type.
std::optional<int64_t> OptInt(const json* j, const char* key) {
  if (j == nullptr || !j->is_object()) return std::nullopt;
  auto it = j->find(key);
  if (it == j->end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

std::string Span(const json* j, const char* key) {
  const auto s = OptInt(j, key);
  return s && *s >= 0 ? FormatSpan(*s) : "-";
}

// The first 10 characters of a base64 key and an ellipsis ("" stays "").
std::string ShortKey(const std::string& key) {
  return key.size() <= 10 ? key : key.substr(0, 10) + "\xe2\x80\xa6";
}

std::string PolicyLine(const json& r) {
  const json* p = Object(r, "policy");
  return "rotation every " + Span(p, "period_seconds") + " (jitter " + Span(p, "jitter_seconds") +
         "), announced " + Span(p, "lead_time_seconds") + " ahead, old key valid " +
         Span(p, "overlap_seconds") + " after the switch, prepare deadline " +
         Span(p, "confirm_deadline_seconds") + ", retry after " + Span(p, "retry_after_seconds");
}

// The ROTATION cell: "" (no rotation under way), the phase, and for
// preparing/postponed what it waits for.
std::string RotationState(const json& node, int64_t now) {
  const json* rot = Object(node, "rotation");
  if (rot == nullptr) return "";
  const std::string phase = JStr(*rot, "phase");
  if (phase == "preparing") {
    std::string s = "preparing";
    if (JInt(*rot, "attempt") > 0) s += ", attempt " + std::to_string(JInt(*rot, "attempt"));
    const std::string awaiting = Join(JArr(*rot, "awaiting"), ", ");
    if (!awaiting.empty()) s += ", waiting for " + awaiting;
    return s;
  }
  if (phase == "postponed") {
    const int64_t retry = JInt(*rot, "retry_at");
    if (retry <= 0) return "postponed";
    return "postponed, retry " +
           (retry <= now ? std::string("due") : "in " + FormatSpan(retry - now));
  }
  return phase.empty() ? "?" : phase;  // requested, committing, or one this version does not know
}

std::string KeyAge(const json& node, int64_t now) {
  const int64_t since = JInt(node, "key_since");
  return since <= 0 ? "" : FormatSpan(std::max<int64_t>(0, now - since));
}

std::string TimeOrDash(int64_t t) { return t <= 0 ? "-" : FormatTime(t); }

void RenderList(const json& r, View& v) {
  v.out << PolicyLine(r) << "\n\n";
  Table t({"HOSTNAME", "NODE ID", "KEY", "AGE", "NEXT ROTATION", "ROTATION"});
  for (const auto& n : JArr(r, "nodes")) {
    if (!n.is_object()) continue;  // not a node: nothing to show
    t.AddRow({JStr(n, "hostname"), JStr(n, "node_id"), ShortKey(JStr(n, "wg_public_key")),
              KeyAge(n, v.now), FormatUntil(JInt(n, "next_rotation"), v.now),
              RotationState(n, v.now)});
  }
  if (t.rows() == 0) {
    v.out << "no nodes with keys yet\n";
  } else {
    v.out << t.Render();
  }
  Table signing({"KEY", "STATE", "VALID FROM", "VALID UNTIL"});
  for (const auto& k : JArr(r, "config_signing")) {
    if (!k.is_object()) continue;
    signing.AddRow({ShortKey(JStr(k, "public_key")), JStr(k, "state"),
                    TimeOrDash(JInt(k, "not_before")), TimeOrDash(JInt(k, "not_after"))});
  }
  if (signing.rows() > 0) v.out << "\nconfig-signing keys\n" << signing.Render();
  Table cas({"CA SHA-256", "STATE", "ANNOUNCED", "TRUSTED UNTIL"});
  for (const auto& c : JArr(r, "authority_ca")) {
    if (!c.is_object()) continue;
    cas.AddRow({JStr(c, "fingerprint").substr(0, 16) + "...", JStr(c, "state"),
                TimeOrDash(JInt(c, "not_before")), TimeOrDash(JInt(c, "not_after"))});
  }
  if (cas.rows() > 0) v.out << "\nauthority CAs\n" << cas.Render();
}

// Adds `rotate` under `parent` (the root shortcut and `keys rotate`).
void AddRotate(CLI::App& parent, Registry& reg) {
  auto a = std::make_shared<RotateArgs>();
  auto* rotate = parent.add_subcommand(
      "rotate", "request a WireGuard key rotation now (peers confirm the next key first)");
  rotate->add_option("--node", a->nodes, "node id or hostname; repeat for more nodes")
      ->allow_extra_args(false);  // one value per --node
  rotate->add_flag("--all", a->all, "rotate every active node");
  rotate->add_option("--reason", a->reason, "why (recorded in the audit log)");
  reg.Add(rotate, {[a] { return BuildRotate(*a); }, RenderRotate});
}

// An authority key rotation (`keys rotate-ca`, `keys rotate-signing-key`):
// POST `path` with an optional reason; the answer is the keys list.
void AddAnnounce(CLI::App& group, Registry& reg, const char* name, const char* help,
                 const char* path) {
  auto reason = std::make_shared<std::string>();
  auto* cmd = group.add_subcommand(name, help);
  cmd->add_option("--reason", *reason, "why (recorded in the audit log)");
  reg.Add(cmd, {[reason, path]() -> Result<Request> {
                  TPMESH_ASSIGN_OR_RETURN(std::string r, CheckText(*reason, "reason"));
                  json body = json::object();
                  if (!r.empty()) body["reason"] = r;
                  return Request{"POST", path, body};
                },
                RenderList});
}

}  // namespace

void AddKeysCommands(CLI::App& root, Registry& reg) {
  AddRotate(root, reg);
  auto* group =
      root.add_subcommand("keys", "WireGuard key rotation: keys, schedule, rotation state");
  group->require_subcommand(1);
  auto* list =
      group->add_subcommand("list", "list node keys, next rotations and rotations under way")
          ->alias("ls");
  reg.Add(list, {[] { return Result<Request>(Request{"GET", "/v1/admin/keys", {}}); }, RenderList});
  AddRotate(*group, reg);
  AddAnnounce(*group, reg, "rotate-ca",
              "announce a new authority CA; nodes fetch the new trust bundle, then it issues every "
              "certificate and the old CA stays trusted until the certificates it issued expire",
              "/v1/admin/keys/ca/rotate");
  AddAnnounce(
      *group, reg, "rotate-signing-key",
      "announce a new config-signing key; the authority switches to it once every node holds "
      "the announcement, and the old key co-signs for the overlap",
      "/v1/admin/keys/signing/rotate");
}

}  // namespace tpmesh::ctl
