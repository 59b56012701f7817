// tpmeshctl keys list | rotate, and the top-level shortcut `tpmeshctl rotate`.
//
// Rotation itself is the authority's job (keyrotate/: two-phase WireGuard
// key rotation with prepare/confirm/commit); these commands only request a
// rotation and show the keys and where each node's rotation stands. Bodies
// are proto/keys.h's types.
#include "tpmesh/proto/keys.h"

#include <algorithm>
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
  proto::KeysRotateRequest body;
  body.all = a.all;
  if (!a.all) {
    for (const auto& n : a.nodes) {  // in the order given, duplicates dropped
      TPMESH_ASSIGN_OR_RETURN(std::string node, CheckPathName(n, "node"));
      if (std::find(body.nodes.begin(), body.nodes.end(), node) == body.nodes.end())
        body.nodes.push_back(node);
    }
  }
  TPMESH_ASSIGN_OR_RETURN(std::string reason, CheckText(a.reason, "reason"));
  if (HasText(reason)) body.reason = reason;
  return PostRequest("/v1/admin/keys/rotate", body);
}

void RenderRotate(const proto::KeysRotateResponse& r, View& v) {
  std::string names;
  for (const auto& n : r.requested) {
    // A node's name for people: its hostname, else its id.
    names += (names.empty() ? "" : ", ") + (n.hostname.empty() ? n.node_id : n.hostname);
  }
  v.out << "rotation requested for " << r.requested.size() << " node(s)"
        << (names.empty() ? "" : ": ") << Sanitize(names) << " (generation " << r.generation
        << ")\n"
        << "watch it with 'tpmeshctl keys list'\n";
}

// The first 10 characters of a base64 key and an ellipsis ("" stays "").
std::string ShortKey(const std::string& key) {
  return key.size() <= 10 ? key : key.substr(0, 10) + "\xe2\x80\xa6";
}

std::string PolicyLine(const proto::KeyPolicyView& p) {
  return "rotation every " + FormatSpan(p.period_seconds) + " (jitter " +
         FormatSpan(p.jitter_seconds) + "), announced " + FormatSpan(p.lead_time_seconds) +
         " ahead, old key valid " + FormatSpan(p.overlap_seconds) +
         " after the switch, prepare deadline " + FormatSpan(p.confirm_deadline_seconds) +
         ", retry after " + FormatSpan(p.retry_after_seconds);
}

// The ROTATION cell: "" (no rotation under way), the phase, and for
// preparing/postponed what it waits for.
std::string RotationState(const proto::NodeKeysView& node, int64_t now) {
  if (!node.rotation) return "";
  const proto::NodeRotationView& rot = *node.rotation;
  if (rot.phase == "preparing") {
    std::string s = "preparing";
    if (rot.attempt > 0) s += ", attempt " + std::to_string(rot.attempt);
    std::string awaiting;
    for (const auto& a : rot.awaiting) awaiting += (awaiting.empty() ? "" : ", ") + a;
    if (!awaiting.empty()) s += ", waiting for " + awaiting;
    return s;
  }
  if (rot.phase == "postponed") {
    if (rot.retry_at <= 0) return "postponed";
    return "postponed, retry " +
           (rot.retry_at <= now ? std::string("due") : "in " + FormatSpan(rot.retry_at - now));
  }
  // requested, committing, or one this version does not know
  return rot.phase.empty() ? "?" : rot.phase;
}

std::string KeyAge(const proto::NodeKeysView& node, int64_t now) {
  return node.key_since <= 0 ? "" : FormatSpan(std::max<int64_t>(0, now - node.key_since));
}

std::string TimeOrDash(int64_t t) { return t <= 0 ? "-" : FormatTime(t); }

void RenderList(const proto::KeysResponse& r, View& v) {
  v.out << PolicyLine(r.policy) << "\n\n";
  Table t({"HOSTNAME", "NODE ID", "KEY", "AGE", "NEXT ROTATION", "ROTATION"});
  for (const auto& n : r.nodes) {
    t.AddRow({n.hostname, n.node_id, ShortKey(n.wg_public_key), KeyAge(n, v.now),
              FormatUntil(n.next_rotation, v.now), RotationState(n, v.now)});
  }
  if (t.rows() == 0) {
    v.out << "no nodes with keys yet\n";
  } else {
    v.out << t.Render();
  }
  Table signing({"KEY", "STATE", "VALID FROM", "VALID UNTIL"});
  for (const auto& k : r.config_signing) {
    signing.AddRow(
        {ShortKey(k.public_key), k.state, TimeOrDash(k.not_before), TimeOrDash(k.not_after)});
  }
  if (signing.rows() > 0) v.out << "\nconfig-signing keys\n" << signing.Render();
  Table cas({"CA SHA-256", "STATE", "ANNOUNCED", "TRUSTED UNTIL"});
  for (const auto& c : r.authority_ca) {
    cas.AddRow({c.fingerprint.substr(0, 16) + "...", c.state, TimeOrDash(c.not_before),
                TimeOrDash(c.not_after)});
  }
  if (cas.rows() > 0) v.out << "\nauthority CAs\n" << cas.Render();
}

TypedRender ListRenderer() {
  return Typed<proto::KeysResponse>(proto::ParseKeysResponse, RenderList);
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
  reg.Add(rotate, {[a] { return BuildRotate(*a); },
                   Typed<proto::KeysRotateResponse>(proto::ParseKeysRotateResponse, RenderRotate)});
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
                  return PostRequest(path, proto::AuthorityKeyRotateRequest{std::move(r)});
                },
                ListRenderer()});
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
  reg.Add(list, {[] {
                   return Result<Request>(Request{"GET", "/v1/admin/keys", {}});
                 },
                 ListRenderer()});
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
