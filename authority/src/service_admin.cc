// AuthorityService: admin operations on nodes, tokens, the EK allowlist,
// PCR policies and the audit log (service.h, "Admin operations").
#include <sodium.h>

#include <algorithm>

#include "service_util.h"
#include "store_util.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/proto/admin_fields.h"

namespace tpmesh::authority {

using internal::FindNode;
using internal::InTx;
using internal::NodeNotFound;

Result<std::vector<NodeRecord>> AuthorityService::ListNodes() {
  return InTx(store_, [](Tx& tx) { return tx.ListNodes(); });
}

Result<NodeRecord> AuthorityService::GetNode(std::string_view id) {
  TPMESH_ASSIGN_OR_RETURN(std::optional<NodeRecord> n,
                          InTx(store_, [&](Tx& tx) { return FindNode(tx, id); }));
  if (!n) return NodeNotFound(id);
  return *n;
}

Result<NodeRecord> AuthorityService::ChangeStatus(std::string_view id,
                                                  std::initializer_list<NodeStatus> from,
                                                  NodeStatus to, const char* action,
                                                  const std::string& actor,
                                                  const std::string& reason, bool allocate) {
  NodeRecord node;
  int64_t published = 0;
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto n, FindNode(tx, id));
    if (!n) return NodeNotFound(id);
    if (std::find(from.begin(), from.end(), n->status) == from.end()) {
      return MakeError(Code::kFailedPrecondition, "invalid_state",
                       "node " + n->node_id + " is " + NodeStatusName(n->status) + "; cannot " +
                           std::string(action).substr(5));
    }
    const bool was_member = n->status == NodeStatus::kActive;
    const bool was_revoked = n->status == NodeStatus::kRevoked;
    n->status = to;
    n->status_reason = reason;
    n->updated_at = Now();
    // Revoke, quarantine and restore end every certificate issued so far
    // (approve issues none: the node enrolls again for one).
    if (to != NodeStatus::kActive) EndCertificates(*n);
    // A restored node holds no WireGuard key: its old ones were retired at
    // the revocation and it must bring a new one when it enrolls again.
    if (was_revoked) {
      n->wg_public_key.clear();
      n->next_wg_public_key.clear();
    }
    if (allocate && !n->subnet) {
      TPMESH_ASSIGN_OR_RETURN(uint32_t subnet, tx.FreeSubnet(kMaxSubnet));
      n->subnet = subnet;
    }
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*n));
    if (was_member != (to == NodeStatus::kActive)) {
      TPMESH_ASSIGN_OR_RETURN(int64_t generation, tx.BumpGeneration());
      published = generation;
    }
    TPMESH_RETURN_IF_ERROR(tx.AppendAudit(
        AuditEntry{0, Now(), actor, action, n->node_id, reason, "hostname " + n->hostname}));
    node = *n;
    return OkStatus();
  }));
  TPMESH_RETURN_IF_ERROR(PublishThrough(published));
  return node;
}

Result<NodeRecord> AuthorityService::Approve(std::string_view id, const std::string& actor,
                                             const std::string& reason) {
  return ChangeStatus(id, {NodeStatus::kPending, NodeStatus::kQuarantined}, NodeStatus::kActive,
                      "node.approve", actor, reason, /*allocate=*/true);
}

Result<NodeRecord> AuthorityService::Revoke(std::string_view id, const std::string& actor,
                                            const std::string& reason) {
  if (reason.empty()) {
    return MakeError(Code::kInvalidArgument, "reason_required", "revocation needs a reason");
  }
  return ChangeStatus(id, {NodeStatus::kPending, NodeStatus::kActive, NodeStatus::kQuarantined},
                      NodeStatus::kRevoked, "node.revoke", actor, reason, false);
}

Result<NodeRecord> AuthorityService::Restore(std::string_view id, const std::string& actor,
                                             const std::string& reason) {
  // A restored node is not a member until it enrolls again (fresh attestation).
  return ChangeStatus(id, {NodeStatus::kRevoked}, NodeStatus::kPending, "node.restore", actor,
                      reason.empty() ? "restored by admin; must re-enroll" : reason, false);
}

Result<CreatedToken> AuthorityService::CreateToken(std::chrono::seconds ttl,
                                                   const std::string& comment,
                                                   const std::string& actor) {
  if (ttl.count() <= 0 || ttl > std::chrono::hours(24 * 30)) {
    return MakeError(Code::kInvalidArgument, "invalid_ttl", "token TTL must be 1 s to 30 days");
  }
  Bytes raw(24);
  rng_.Fill(raw);
  CreatedToken out;
  out.token = "tpmesh-" + HexEncode(raw);
  sodium_memzero(raw.data(), raw.size());
  Bytes hash = internal::TokenHash(out.token);
  out.record.id = HexEncode(ByteView(hash.data(), 8));
  out.record.hash = hash;
  out.record.comment = comment;
  out.record.created_at = Now();
  out.record.expires_at = Now() + ttl.count();
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertToken(out.record));
    return tx.AppendAudit(AuditEntry{0, Now(), actor, "token.create", out.record.id, comment,
                                     "expires " + std::to_string(out.record.expires_at)});
  }));
  return out;
}

Result<std::vector<TokenRecord>> AuthorityService::ListTokens() {
  return InTx(store_, [](Tx& tx) { return tx.ListTokens(); });
}

Result<TokenRecord> AuthorityService::RevokeToken(std::string_view id, const std::string& actor) {
  return InTx(store_, [&](Tx& tx) -> Result<TokenRecord> {
    TPMESH_ASSIGN_OR_RETURN(auto t, tx.FindToken(id));
    if (!t)
      return MakeError(Code::kNotFound, "token_not_found",
                       "no token with id '" + std::string(id.substr(0, 32)) + "'");
    t->revoked = true;
    TPMESH_RETURN_IF_ERROR(tx.UpdateToken(*t));
    TPMESH_RETURN_IF_ERROR(
        tx.AppendAudit(AuditEntry{0, Now(), actor, "token.revoke", t->id, "", ""}));
    return *std::move(t);
  });
}

Status AuthorityService::AllowEk(ByteView ek_sha256, const std::string& comment,
                                 const std::string& actor) {
  if (ek_sha256.size() != 32) {
    return MakeError(Code::kInvalidArgument, "invalid_ek_hash",
                     "EK fingerprint must be 32 bytes (64 hex digits)");
  }
  return store_.Transact([&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(
        tx.PutAllowlist(AllowlistEntry{Bytes(ek_sha256.begin(), ek_sha256.end()), comment, Now()}));
    return tx.AppendAudit(
        AuditEntry{0, Now(), actor, "ek.allow", HexEncode(ek_sha256), comment, ""});
  });
}

Result<std::vector<AllowlistEntry>> AuthorityService::ListAllowedEks() {
  return InTx(store_, [](Tx& tx) { return tx.ListAllowlist(); });
}

Status AuthorityService::RemoveEk(ByteView ek_sha256, const std::string& actor) {
  return store_.Transact([&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(bool removed, tx.RemoveAllowlist(ek_sha256));
    if (!removed)
      return MakeError(Code::kNotFound, "ek_not_found", "EK fingerprint is not on the allowlist");
    return tx.AppendAudit(AuditEntry{0, Now(), actor, "ek.remove", HexEncode(ek_sha256), "", ""});
  });
}

Result<PolicyRecord> AuthorityService::AdoptPolicy(const std::string& name, std::string_view node,
                                                   const std::string& actor) {
  TPMESH_ASSIGN_OR_RETURN(NodeRecord n, GetNode(node));
  if (n.status != NodeStatus::kActive || n.pcr_values.empty()) {
    return MakeError(
        Code::kFailedPrecondition, "invalid_state",
        "node " + n.node_id + " has no verified PCR values to adopt (it must be active)");
  }
  attest::PcrPolicy p{name, settings_.pcr_selection.bank, {}};
  for (const auto& [pcr, value] : n.pcr_values) p.golden[pcr].push_back(value);
  return PutPolicy(std::move(p), actor + " (adopted from node " + n.node_id + ")");
}

Result<PolicyRecord> AuthorityService::PutPolicy(attest::PcrPolicy policy,
                                                 const std::string& actor) {
  TPMESH_RETURN_IF_ERROR(proto::ValidatePolicyName(policy.name));
  if (policy.golden.empty()) {
    return MakeError(Code::kInvalidArgument, "invalid_policy", "a policy needs at least one PCR");
  }
  PolicyRecord rec{std::move(policy), Now()};
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.PutPolicy(rec));
    return tx.AppendAudit(AuditEntry{0, Now(), actor, "policy.put", rec.policy.name, "",
                                     std::to_string(rec.policy.golden.size()) + " PCRs"});
  }));
  return rec;
}

Result<std::vector<PolicyRecord>> AuthorityService::ListPolicies() {
  return InTx(store_, [](Tx& tx) { return tx.ListPolicies(); });
}

Status AuthorityService::DeletePolicy(const std::string& name, const std::string& actor) {
  return store_.Transact([&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(bool removed, tx.DeletePolicy(name));
    if (!removed)
      return MakeError(Code::kNotFound, "policy_not_found", "no PCR policy named '" + name + "'");
    return tx.AppendAudit(AuditEntry{0, Now(), actor, "policy.delete", name, "", ""});
  });
}

Result<std::vector<AuditEntry>> AuthorityService::ListAudit(size_t limit) {
  return InTx(store_, [&](Tx& tx) { return tx.ListAudit(std::min<size_t>(limit, 10000)); });
}

Result<int64_t> AuthorityService::Generation() {
  return InTx(store_, [](Tx& tx) { return tx.Generation(); });
}

}  // namespace tpmesh::authority
