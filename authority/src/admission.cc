// Enrollment admission, decided from the facts alone (admission.h).
#include "admission.h"

#include "service_util.h"
#include "tpmesh/attest/checks.h"

namespace tpmesh::authority::internal {
namespace {

// The token step: admitted by the token, or why it does not admit.
Result<AdmissionDecision> ByToken(const AdmissionFacts& f) {
  if (!f.settings.tokens) {
    return MakeError(Code::kPermissionDenied, "token_invalid",
                     "enrollment tokens are disabled on this authority");
  }
  const auto& token = f.token;
  if (!token || token->revoked || token->used_at || token->expires_at < f.now) {
    return MakeError(Code::kPermissionDenied, "token_invalid",
                     !token           ? "the enrollment token is not known"
                     : token->revoked ? "the enrollment token was revoked"
                     : token->used_at ? "the enrollment token was already used"
                                      : "the enrollment token expired");
  }
  return AdmissionDecision{"token " + token->id, token};
}

}  // namespace

Status CheckNoCertAllowed(ByteView ek_sha256, bool allowlisted, bool allowlist_admission) {
  if (allowlisted && allowlist_admission) return OkStatus();
  return attest::CheckFailure(
      attest::Check::kEkCertChain,
      "the node sent no EK certificate and its EK (sha256:" + HexEncode(ek_sha256) +
          (allowlisted ? ") is on the allowlist, but allowlist admission is off on this authority"
                       : ") is not on the allowlist; only the allowlist can admit a TPM without an "
                         "EK certificate ('tpmeshctl ek allow')"));
}

Result<AdmissionDecision> Decide(const AdmissionFacts& f) {
  const auto& existing = f.existing;
  if (existing && existing->status == NodeStatus::kRevoked) return Revoked(*existing);
  if (f.holder && f.holder->ek_sha256 != f.ek_sha256) {
    return attest::CheckFailure(attest::Check::kIdentityChanged,
                                "hostname '" + f.hostname + "' belongs to node " +
                                    f.holder->node_id + " with a different EK");
  }
  // Nothing but the allowlist vouches for a TPM without an EK certificate:
  // no token, no approval queue, and no earlier admission (the allowlist
  // entry may have been removed since, or dev mode switched off).
  if (!f.has_ek_cert) {
    TPMESH_RETURN_IF_ERROR(CheckNoCertAllowed(f.ek_sha256, f.allowlisted, f.settings.allowlist));
  }
  AdmissionDecision out;
  if (existing && existing->status == NodeStatus::kActive) {
    out.admitted_by = "re-enrollment";
  } else if (f.settings.allowlist && f.allowlisted) {
    out.admitted_by = "allowlist";
  } else if (f.token_given) {
    TPMESH_ASSIGN_OR_RETURN(out, ByToken(f));
  }
  if (existing && existing->status == NodeStatus::kQuarantined) {
    return MakeError(Code::kPermissionDenied, "node_quarantined",
                     "node " + existing->node_id + " is quarantined (" + existing->status_reason +
                         "); an admin must approve it");
  }
  if (out.admitted_by.empty() && !f.settings.approval_queue) {
    return MakeError(Code::kPermissionDenied, "not_admitted",
                     "attestation passed, but this EK (sha256:" + HexEncode(f.ek_sha256) +
                         ") is not on the allowlist and no valid enrollment token was given");
  }
  return out;
}

}  // namespace tpmesh::authority::internal
