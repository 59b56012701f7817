// Plain records the authority stores (see store.h). Value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/attest/quote.h"
#include "tpmesh/attest/types.h"
#include "tpmesh/common/bytes.h"

namespace tpmesh::authority {

enum class NodeStatus { kPending, kActive, kRevoked, kQuarantined };
const char* NodeStatusName(NodeStatus s);  // "pending", "active", "revoked", "quarantined"
std::optional<NodeStatus> ParseNodeStatus(std::string_view s);

struct NodeRecord {
  std::string node_id;   // 20 hex chars: first 10 bytes of the EK fingerprint
  std::string hostname;  // unique
  NodeStatus status = NodeStatus::kPending;
  std::string status_reason;
  Bytes ek_sha256;  // EK fingerprint (SHA-256 of SPKI DER); unique
  Bytes ek_public;  // TPM2B_PUBLIC
  Bytes ek_name;
  Bytes ak_public;  // TPM2B_PUBLIC
  Bytes ak_name;
  std::optional<uint32_t> subnet;  // index of the node's /64 in the mesh /48; unique
  Bytes wg_public_key;             // 32 bytes
  std::vector<std::string> endpoints;
  std::string pcr_policy;        // policy name it was admitted under ("" = none)
  attest::PcrValues pcr_values;  // from the last verified quote
  attest::ClockState tpm_clock;  // from the last verified quote (check 12)
  int64_t enrolled_at = 0;
  int64_t updated_at = 0;
  int64_t last_seen = 0;
  int64_t enroll_count = 0;
  // WireGuard key rotation (service.h, "Key rotation").
  Bytes next_wg_public_key;         // announced next key; empty = none
  int64_t wg_key_since = 0;         // when wg_public_key became current
  Bytes prev_wg_public_key;         // retired by the last rotation; empty = none
  int64_t prev_wg_key_until = 0;    // end of its overlap window
  int64_t rotate_requested_at = 0;  // rotation due, next key not registered yet (0 = no)
  // Node certificates (docs/protocol.md, "Node certificates"): a node
  // request is accepted only with one the authority holds valid for it.
  // Serials are lower-case hex (pki::PeerIdentity::serial).
  std::string cert_serial;       // the current certificate; "" = none is valid;
                                 // kAnyLegacyCert = rows from before schema v3
  std::string prev_cert_serial;  // the one renewal replaced; valid until prev_cert_until
  int64_t prev_cert_until = 0;
  // notAfter of the current certificate (unix seconds); 0 = unknown (rows
  // from before schema v5, until the next renewal) or none. An active node
  // past it is shown as expired (NodeCertExpired).
  int64_t cert_not_after = 0;
  // The EK evidence the node enrolled with, re-checked at every renewal
  // (checks 1, 2, 14, 15 or the allowlist against today's trust store).
  bool ek_evidence_stored = false;  // false: enrolled before schema v3 (not re-checked)
  Bytes ek_cert;                    // DER; empty = enrolled without one (allowlist)
  std::vector<Bytes> ek_intermediates;
};

// NodeRecord::cert_serial of nodes enrolled before per-certificate checks:
// any certificate the CA issued for the node id is accepted until its next
// enrollment, renewal, revocation or quarantine sets a real serial.
inline constexpr const char* kAnyLegacyCert = "*";

// An active node whose current certificate has ended: it can neither poll
// nor renew until it enrolls again (the client does so by itself with its
// TPM). Not a stored status: it is read off the clock.
inline bool NodeCertExpired(const NodeRecord& n, int64_t now) {
  return n.status == NodeStatus::kActive && n.cert_not_after != 0 && n.cert_not_after < now;
}

struct TokenRecord {
  std::string id;  // public handle, 16 hex chars
  Bytes hash;      // SHA-256 of the secret token; the token itself is never stored
  std::string comment;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> used_at;
  std::string used_by;  // node id
  bool revoked = false;
};

struct AllowlistEntry {
  Bytes ek_sha256;
  std::string comment;
  int64_t created_at = 0;
};

struct PolicyRecord {
  attest::PcrPolicy policy;
  int64_t created_at = 0;
};

struct AuditEntry {
  int64_t id = 0;
  int64_t at = 0;
  std::string actor;   // "admin:<name>", "node:<id>", "system"
  std::string action;  // "node.enroll", "node.revoke", "token.create", ...
  std::string target;  // node id, token id, ...
  std::string reason;
  std::string detail;  // short free text (no secrets)
};

// What a challenge was issued for: it is only ever taken as that kind
// (Tx::TakeChallenge), so enroll/finish never consumes a renewal challenge,
// nor renew/finish an enrollment one.
enum class ChallengeKind { kEnrollment, kRenewal };

// A pending challenge: an enrollment's (attest::PendingChallenge plus its id
// and the hostname it was issued for) or a renewal's (a nonce for the node
// it was issued to; no credential, so no secret).
struct ChallengeRecord {
  std::string id;
  ChallengeKind kind = ChallengeKind::kEnrollment;
  std::string hostname;  // enrollment: the hostname it was issued for; renewal: ""
  std::string node_id;   // renewal: the node it was issued to; enrollment: ""
  attest::KeyAlg ek_alg = attest::KeyAlg::kRsa2048;
  SecretBytes secret;  // enrollment: the credential's secret; renewal: empty
  Bytes nonce;
  attest::PcrSelection selection;
  Bytes ek_public, ak_public, ek_name, ak_name, ek_sha256;
  bool has_ek_cert = false;
  Bytes ek_cert;  // DER (enrollment only; empty = none)
  std::vector<Bytes> ek_intermediates;
  int64_t expires_at = 0;
};

}  // namespace tpmesh::authority
