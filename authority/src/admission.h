// Enrollment admission as a pure decision (enroll/finish, step 3): the
// service reads the facts inside the enrollment's transaction
// (AdmissionFacts) and Decide says how the node is admitted, or why it is
// refused. No store, no clock, no I/O: the same facts give the same answer.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tpmesh/authority/records.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority::internal {

// What admission depends on, read in the enrollment's transaction.
struct AdmissionFacts {
  std::string hostname;      // the one the node asks for
  Bytes ek_sha256;           // the attested EK's fingerprint
  bool has_ek_cert = false;  // the node presented an EK certificate (checks 1, 2, 14, 15 ran)
  bool allowlisted = false;  // ek_sha256 is on the EK allowlist
  std::optional<NodeRecord> existing;  // the node with this EK, if any
  std::optional<NodeRecord> holder;    // the node holding `hostname`, if any
  bool token_given = false;            // the request carried an enrollment token
  std::optional<TokenRecord> token;    // the stored token with its hash (read when given)
  AdmissionSettings settings;          // the authority's admission switches
  int64_t now = 0;                     // unix seconds (token expiry)
};

// How the enrollment is admitted, or that it waits for approval.
struct AdmissionDecision {
  // "re-enrollment", "allowlist", "token <id>"; "" = it waits for approval.
  std::string admitted_by;
  std::optional<TokenRecord> token;  // the token it consumes (the caller marks it used)
};

// The decision. Checks, in order: a revoked node (node_revoked); the
// hostname held by another EK (identity_changed); no EK certificate and not
// admitted by the allowlist (ek_cert_untrusted, CheckNoCertAllowed); then
// admitted by re-enrollment of an active node, the allowlist, or a token
// (token_invalid: tokens disabled, unknown, revoked, used, expired); a
// quarantined node (node_quarantined); nothing admitted it and no approval
// queue (not_admitted). All refusals are kPermissionDenied.
[[nodiscard]] Result<AdmissionDecision> Decide(const AdmissionFacts& facts);

// A TPM without an EK certificate: OK only when its EK is allowlisted and
// allowlist admission is on (check 1's stand-in, at every enrollment start
// and finish); otherwise check 1's error saying which of the two is missing.
[[nodiscard]] Status CheckNoCertAllowed(ByteView ek_sha256, bool allowlisted,
                                        bool allowlist_admission);

}  // namespace tpmesh::authority::internal
