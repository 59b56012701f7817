// AuthorityService: node certificate renewal with re-attestation, and
// quarantine (service.h, RenewStart / RenewFinish).
#include "service_util.h"
#include "store_util.h"
#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/authority/service.h"

namespace tpmesh::authority {
namespace {

using internal::InTx;
using internal::NodeNotFound;
using internal::NotActive;

Error UnknownChallenge() {
  return attest::CheckFailure(attest::Check::kActivationSecret,
                              "unknown or already used renewal challenge: each challenge answers "
                              "once; start renewal again");
}

}  // namespace

Result<proto::RenewStartResponse> AuthorityService::RenewStart(std::string_view node_id) {
  ChallengeRecord rec;
  Bytes id(16);
  rng_.Fill(id);
  rec.id = HexEncode(id);
  // Its own kind, bound to its node: enroll/finish cannot take it. No
  // credential in renewal (the AK was bound to the EK at enrollment), so no
  // secret.
  rec.kind = ChallengeKind::kRenewal;
  rec.node_id = std::string(node_id);
  rec.nonce = Bytes(32);
  rng_.Fill(rec.nonce);
  rec.selection = settings_.pcr_selection;
  rec.expires_at = Now() + settings_.challenge_ttl.count();
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto n, tx.FindNodeById(node_id));
    if (!n) return NodeNotFound(node_id);
    if (n->status != NodeStatus::kActive) return NotActive(*n);
    rec.ek_public = n->ek_public;
    rec.ak_public = n->ak_public;
    rec.ek_name = n->ek_name;
    rec.ak_name = n->ak_name;
    rec.ek_sha256 = n->ek_sha256;
    TPMESH_RETURN_IF_ERROR(tx.DeleteExpiredChallenges(Now()));
    return tx.PutChallenge(rec);
  }));

  proto::RenewStartResponse out;
  out.challenge_id = rec.id;
  out.nonce = rec.nonce;
  out.pcr_selection = rec.selection;
  out.expires_at = rec.expires_at;
  return out;
}

Status AuthorityService::Quarantine(const NodeRecord& node, const Error& why) {
  int64_t published = 0;
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto n, tx.FindNodeById(node.node_id));
    if (!n || n->status != NodeStatus::kActive) return OkStatus();  // already out of the mesh
    n->status = NodeStatus::kQuarantined;
    n->status_reason = why.message;
    n->updated_at = Now();
    EndCertificates(*n);
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*n));
    TPMESH_ASSIGN_OR_RETURN(int64_t generation, tx.BumpGeneration());
    published = generation;
    return tx.AppendAudit(
        AuditEntry{0, Now(), "system", "node.quarantine", n->node_id, why.message,
                   "re-attestation failed (" + why.reason + "), hostname " + n->hostname});
  }));
  Log("node " + node.node_id + " (" + node.hostname + ") quarantined: " + why.reason);
  return PublishThrough(published);
}

Status AuthorityService::RecheckEk(const NodeRecord& node, bool allowlisted) const {
  if (!node.ek_evidence_stored)
    return OkStatus();  // enrolled before schema v3: at its next enrollment
  if (!node.ek_cert.empty()) {
    return verifier_.RecheckEkCert(node.ek_public, node.ek_cert, node.ek_intermediates);
  }
  if (allowlisted && settings_.admission.allowlist) return OkStatus();
  return attest::CheckFailure(attest::Check::kEkCertChain,
                              "node " + node.node_id +
                                  " enrolled without an EK certificate and its "
                                  "EK (sha256:" +
                                  HexEncode(node.ek_sha256) + ") is no longer on the allowlist");
}

Result<proto::RenewFinishResponse> AuthorityService::RenewFinish(
    std::string_view node_id, std::string_view serial, const proto::RenewFinishRequest& req) {
  // 1. Take the challenge: single use even if everything after fails, but
  //    only by its own node (another node's attempt rolls the take back).
  std::optional<ChallengeRecord> taken;
  std::optional<NodeRecord> node;
  std::optional<attest::PcrPolicy> policy;
  bool allowlisted = false;
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(taken, tx.TakeChallenge(req.challenge_id, ChallengeKind::kRenewal));
    if (!taken) return UnknownChallenge();
    if (taken->node_id != node_id) {
      return attest::CheckFailure(
          attest::Check::kActivationSecret,
          "the challenge was not issued to node " + std::string(node_id) + " for renewal");
    }
    TPMESH_ASSIGN_OR_RETURN(node, tx.FindNodeById(node_id));
    if (node) {
      TPMESH_ASSIGN_OR_RETURN(policy, PolicyFor(tx, node));
      TPMESH_ASSIGN_OR_RETURN(allowlisted, tx.IsAllowlisted(node->ek_sha256));
    }
    return OkStatus();
  }));
  if (taken->expires_at < Now()) {
    return attest::CheckFailure(attest::Check::kActivationSecret,
                                "the renewal challenge expired; start renewal again");
  }
  if (!node) return NodeNotFound(node_id);
  if (node->status != NodeStatus::kActive) return NotActive(*node);
  if (node->ak_name != taken->ak_name) {
    return attest::CheckFailure(attest::Check::kIdentityChanged,
                                "node " + node->node_id +
                                    " re-enrolled with a new AK after this "
                                    "challenge was issued; start renewal again");
  }

  // 2. Checks 7-10 and 13 with the ENROLLED AK (no transaction held).
  TPMESH_ASSIGN_OR_RETURN(auto ak, attest::ParseTpm2bPublic(node->ak_public));
  attest::QuoteEvidence quote = req.quote;
  quote.selection = taken->selection;
  auto info = attest::VerifyQuote(ak, quote, taken->nonce, taken->selection);
  if (!info.ok()) {
    if (info.error().reason == attest::CheckReason(attest::Check::kQuoteSignature)) {
      // Not signed by the enrolled AK: the request did not come from the
      // enrolled TPM. Refused, but no quarantine (it says nothing about it).
      return attest::CheckFailure(attest::Check::kIdentityChanged,
                                  "the quote is not signed by node " + node->node_id +
                                      "'s enrolled AK (" + info.error().message + ")");
    }
    return info.take_error();
  }

  // 3. Checks 12 and 11, and the EK evidence against today's trust store:
  //    failing any quarantines the node.
  Status verdict = attest::CheckQuoteTiming(node->tpm_clock, info->clock);
  if (verdict.ok() && policy) verdict = attest::CheckPcrPolicy(*policy, quote.pcr_values);
  if (verdict.ok()) verdict = RecheckEk(*node, allowlisted);
  if (!verdict.ok()) {
    Error why = verdict.take_error();
    if (Status q = Quarantine(*node, why); !Committed(q)) return q.take_error();
    return why;
  }

  TPMESH_ASSIGN_OR_RETURN(IssuedNodeCert cert, IssueNodeCert(req.csr_pem, node->node_id));
  return RecordRenewal(node_id, serial, *taken, *info, quote.pcr_values, std::move(cert));
}

Result<proto::RenewFinishResponse> AuthorityService::RecordRenewal(
    std::string_view node_id, std::string_view serial, const ChallengeRecord& taken,
    const attest::QuoteInfo& info, const attest::PcrValues& pcrs, IssuedNodeCert cert) {
  // Membership is unchanged: no generation bump.
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto n, tx.FindNodeById(node_id));
    if (!n) return NodeNotFound(node_id);
    if (n->status != NodeStatus::kActive) return NotActive(*n);
    if (n->ak_name != taken.ak_name) {
      return attest::CheckFailure(attest::Check::kIdentityChanged,
                                  "node " + n->node_id + " re-enrolled during renewal");
    }
    // A concurrent renewal may have stored a later clock meanwhile.
    TPMESH_RETURN_IF_ERROR(attest::CheckQuoteTiming(n->tpm_clock, info.clock));
    const int64_t now = Now();
    n->tpm_clock = info.clock;
    n->pcr_values = pcrs;
    n->updated_at = now;
    n->last_seen = now;
    // The certificate this request came with overlaps the new one briefly
    // (and never beyond its own expiry: TLS refuses an expired one).
    n->prev_cert_serial = std::string(serial);
    n->prev_cert_until = now + settings_.cert_overlap.count();
    n->cert_serial = cert.serial;
    n->cert_not_after = cert.not_after;
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*n));
    return tx.AppendAudit(AuditEntry{0, now, "node:" + n->node_id, "node.renew", n->node_id,
                                     "certificate renewed",
                                     "serial " + cert.serial + ", valid " +
                                         std::to_string(settings_.node_cert_lifetime.count()) +
                                         " s, TPM reset " + std::to_string(info.clock.reset_count) +
                                         " restart " + std::to_string(info.clock.restart_count)});
  }));

  proto::RenewFinishResponse out;
  out.node_id = std::string(node_id);
  out.node_cert_pem = std::move(cert.pem);
  out.ca_bundle_pem = CaBundle();
  return out;
}

Result<AuthorityService::IssuedNodeCert> AuthorityService::IssueNodeCert(
    std::string_view csr_pem, const std::string& node_id) {
  IssuedNodeCert out;
  TPMESH_ASSIGN_OR_RETURN(out.pem,
                          CurrentCa()->IssueNodeCert(csr_pem, node_id, clock_.Now(),
                                                     settings_.node_cert_lifetime, &out.serial));
  TPMESH_ASSIGN_OR_RETURN(auto issued, pki::IdentityFromCertPem(out.pem));
  out.not_after = ToUnixSeconds(issued.not_after);
  return out;
}

void AuthorityService::EndCertificates(NodeRecord& n) {
  n.cert_serial.clear();
  n.prev_cert_serial.clear();
  n.prev_cert_until = 0;
  n.cert_not_after = 0;
}

}  // namespace tpmesh::authority
