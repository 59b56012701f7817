// Small helpers shared by the AuthorityService source files (service*.cc).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tpmesh/authority/store.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority::internal {

inline Error NodeNotFound(std::string_view id) {
  return MakeError(Code::kNotFound, "node_not_found",
                   "no node with id or hostname '" + std::string(id.substr(0, 64)) + "'");
}

// The errors for a node that may not act: the same text whether the status
// comes from the store or from the in-memory view (mesh_view.h).
inline Error RevokedError(std::string_view id, std::string_view hostname, std::string_view reason) {
  return MakeError(Code::kPermissionDenied, "node_revoked",
                   "node " + std::string(id) + " (" + std::string(hostname) + ") is revoked (" +
                       std::string(reason) +
                       "); an admin must restore it before it can enroll again");
}
// Precondition: status != kActive.
inline Error NotActiveError(std::string_view id, std::string_view hostname, NodeStatus status,
                            std::string_view reason) {
  if (status == NodeStatus::kRevoked) return RevokedError(id, hostname, reason);
  return MakeError(Code::kPermissionDenied, "node_not_active",
                   "node " + std::string(id) + " is " + NodeStatusName(status));
}
// Whether a node certificate with `serial` is one the authority holds valid
// for a node whose record says (current, previous, previous until), at `now`.
inline bool CertHeldValid(std::string_view current, std::string_view previous,
                          int64_t previous_until, std::string_view serial, int64_t now) {
  if (serial.empty()) return false;
  if (current == kAnyLegacyCert || serial == current) return true;
  return serial == previous && now < previous_until;  // renewal records a real serial as previous
}
inline Error CertSupersededError(std::string_view id, std::string_view serial) {
  return MakeError(Code::kUnauthenticated, "node_cert_superseded",
                   "node certificate (serial " + std::string(serial.substr(0, 40)) +
                       ") is no longer valid for node " + std::string(id) +
                       ": a later enrollment, renewal, revocation or quarantine ended it; use the "
                       "node's current certificate, or enroll again");
}
inline Error Revoked(const NodeRecord& n) {
  return RevokedError(n.node_id, n.hostname, n.status_reason);
}
inline Error NotActive(const NodeRecord& n) {
  return NotActiveError(n.node_id, n.hostname, n.status, n.status_reason);
}

// What the store keeps of an enrollment token: its SHA-256 (the token
// itself is never stored).
inline Bytes TokenHash(std::string_view token) { return Sha256(AsView(token)); }

// A node that takes part in WireGuard key rotation: active, with an address.
inline bool Usable(const NodeRecord& n) {
  return n.status == NodeStatus::kActive && n.subnet.has_value();
}
// A WireGuard key as the audit log shows it.
inline std::string KeyText(ByteView k) { return Base64Encode(k); }

// By node id first, then by hostname.
inline Result<std::optional<NodeRecord>> FindNode(Tx& tx, std::string_view id_or_hostname) {
  TPMESH_ASSIGN_OR_RETURN(auto by_id, tx.FindNodeById(id_or_hostname));
  if (by_id) return by_id;
  return tx.FindNodeByHostname(id_or_hostname);
}

}  // namespace tpmesh::authority::internal
