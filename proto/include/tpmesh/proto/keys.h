// Wire types of the admin API's key routes (docs/protocol.md, "Admin API"):
//   GET  /v1/admin/keys                  -> KeysResponse
//   POST /v1/admin/keys/rotate           KeysRotateRequest -> KeysRotateResponse
//   POST /v1/admin/keys/ca/rotate        AuthorityKeyRotateRequest -> KeysResponse
//   POST /v1/admin/keys/signing/rotate   AuthorityKeyRotateRequest -> KeysResponse
// The authority prints the responses and parses the requests; tpmeshctl
// prints the requests and parses the responses.
//
// Responses parse as admin.h's: never throws; unknown fields are ignored, a
// JSON null counts as absent; a missing or mistyped field is
// Error{kInvalidArgument, "invalid_request", "<field path>: <problem>"}.
// Requests parse as admin_requests.h's, strictly (a field the request does
// not take is refused too; node refs come back in their canonical form).
// Printing never fails and gives the bytes the authority and tpmeshctl have
// always sent (nlohmann's sorted keys).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/result.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::proto {

// The WireGuard rotation policy (keyrotate::RotationPolicy) and whether the
// schedule runs.
struct KeyPolicyView {
  int64_t period_seconds = 0;
  int64_t lead_time_seconds = 0;
  int64_t overlap_seconds = 0;
  int64_t jitter_seconds = 0;
  int64_t confirm_deadline_seconds = 0;
  int64_t retry_after_seconds = 0;
  bool scheduled = false;
};

// A node's WireGuard rotation under way.
struct NodeRotationView {
  std::string phase;            // "requested" or keyrotate::PhaseName
  std::string next_public_key;  // base64; "" until the node registered one
  int64_t attempt = 0;
  std::vector<std::string> awaiting;  // peers not confirmed yet: hostnames (else node ids)
  int64_t confirm_deadline = 0;       // unix s; 0 = none
  int64_t retry_at = 0;               // unix s; 0 = none
};

// One node's WireGuard keys.
struct NodeKeysView {
  std::string node_id;
  std::string hostname;
  std::string status;         // NodeStatusName
  std::string wg_public_key;  // base64
  int64_t key_since = 0;      // unix s
  int64_t age_seconds = 0;
  int64_t next_rotation = 0;        // unix s of the planned switch
  std::string previous_public_key;  // base64; "" = none
  int64_t previous_valid_until = 0;
  std::optional<NodeRotationView> rotation;  // printed as null when none
};

// A version of one of the authority's own keys (signing_keys.h, ca_keys.h).
struct SigningKeyView {
  std::string public_key;  // base64 of the Ed25519 public key
  std::string state;       // "current", "next", "retired"
  int64_t not_before = 0;  // next: announced at; else 0
  int64_t not_after = 0;   // retired: co-signs until; else 0
};
struct CaView {
  std::string fingerprint;  // hex SHA-256 of the DER
  std::string state;        // "current", "next", "retired"
  int64_t not_before = 0;   // next: announced at; else 0
  int64_t not_after = 0;    // retired: leaves the bundle at; else 0
};

struct KeysResponse {
  int64_t generation = 0;
  int64_t now = 0;  // the authority's clock, unix s
  KeyPolicyView policy;
  std::vector<SigningKeyView> config_signing;
  std::vector<CaView> authority_ca;
  std::vector<NodeKeysView> nodes;
};

// POST /v1/admin/keys/rotate: the nodes named, or every active node. Naming
// none and all together is the service's to refuse ("invalid_request").
struct KeysRotateRequest {
  std::vector<std::string> nodes;  // CanonicalNodeRef each; printed only when not empty
  bool all = false;                // printed only when true
  std::string reason;              // ValidateAdminText; printed only when not empty
};
struct RotationRequestedView {
  std::string node_id;
  std::string hostname;
};
struct KeysRotateResponse {
  std::vector<RotationRequestedView> requested;
  int64_t generation = 0;
};

// POST /v1/admin/keys/ca/rotate and /v1/admin/keys/signing/rotate: the same
// body as approve/revoke/restore ({"reason"}, printed only when not empty).
using AuthorityKeyRotateRequest = NodeActionRequest;

std::string ToJson(const KeysResponse& v);
std::string ToJson(const KeysRotateRequest& v);
std::string ToJson(const KeysRotateResponse& v);

[[nodiscard]] Result<KeysResponse> ParseKeysResponse(std::string_view json);
[[nodiscard]] Result<KeysRotateRequest> ParseKeysRotateRequest(std::string_view json);
[[nodiscard]] Result<KeysRotateResponse> ParseKeysRotateResponse(std::string_view json);
[[nodiscard]] inline Result<AuthorityKeyRotateRequest> ParseAuthorityKeyRotateRequest(
    std::string_view json) {
  return ParseNodeActionRequest(json);
}

}  // namespace tpmesh::proto
