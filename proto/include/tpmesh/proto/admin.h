// Wire types of the admin API's responses (docs/protocol.md, "Admin API"):
// the authority prints them, tpmeshctl parses them. The node list and the
// node view are in node.h (GET /v1/node/self shares the view).
//
// Parsing contract as node.h: never throws; unknown fields are ignored, a
// JSON null counts as absent; a missing or mistyped field is
// Error{kInvalidArgument, "invalid_request", "<field path>: <problem>"}.
// Printing never fails and gives the bytes the authority has always sent
// (nlohmann's sorted keys).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/result.h"

namespace tpmesh::proto {

// POST /v1/admin/tokens (201, with `token`), GET /v1/admin/tokens (each of
// `tokens`), DELETE /v1/admin/tokens/<id>.
struct TokenView {
  std::string id;  // 16 hex digits
  std::string comment;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  bool revoked = false;
  std::string used_by;  // node id, "" while unused
  std::optional<int64_t> used_at;
  std::optional<std::string> token;  // the secret: only in the answer to create
};
struct TokenListResponse {
  std::vector<TokenView> tokens;
};

// /v1/admin/ek-allowlist: POST answers {"ek_sha256"}, GET the list, DELETE
// {"removed"}.
struct EkAllowlistEntry {
  std::string ek_sha256;  // 64 hex digits
  std::string comment;
  int64_t created_at = 0;
};
struct EkAllowlistResponse {
  std::vector<EkAllowlistEntry> ek_allowlist;
};
struct EkAllowResponse {
  std::string ek_sha256;
};
// DELETE of an allowlist entry or a policy: what was removed.
struct RemovedResponse {
  std::string removed;
};

// /v1/admin/policies: POST answers the policy, GET the list.
struct PolicyView {
  std::string name;
  std::string bank;                                   // "sha256"
  std::map<uint32_t, std::vector<std::string>> pcrs;  // PCR -> accepted values (hex)
  int64_t created_at = 0;
};
struct PolicyListResponse {
  std::vector<PolicyView> policies;
};

// GET /v1/admin/audit?limit=N, newest first.
struct AuditEntryView {
  int64_t id = 0;
  int64_t at = 0;
  std::string actor;
  std::string action;
  std::string target;
  std::string reason;
  std::string detail;
};
struct AuditListResponse {
  std::vector<AuditEntryView> audit;
};

// GET /v1/admin/status: which active nodes applied the current generation,
// from their last acknowledgement, and what each sees of its peers.
struct StatusPeer {
  std::string public_key;  // base64
  std::string hostname;    // "" when no node holds that key
  int64_t last_handshake = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};
struct StatusNode {
  std::string node_id;
  std::string hostname;
  std::string status = "active";  // or "expired" (NodeView::status)
  // Set once the node has acknowledged a config (all three together).
  std::optional<int64_t> applied_generation;
  std::optional<int64_t> reported_at;
  std::optional<std::vector<StatusPeer>> peers;
};
// Two active nodes whose endpoints share no address family (one only IPv4,
// the other only IPv6): WireGuard cannot connect them (relaying is a later
// step).
struct StatusPair {
  std::string a;  // node ids, a < b
  std::string b;
  std::string reason;
};
inline constexpr size_t kMaxStatusPairs = 1000;
struct StatusResponse {
  int64_t generation = 0;
  int64_t active = 0;   // active nodes, expired ones not counted
  int64_t expired = 0;  // active nodes whose certificate has ended
  int64_t converged = 0;
  int64_t waiting = 0;  // long polls waiting now
  std::vector<StatusNode> nodes;
  int64_t unreachable_pairs = 0;        // how many such pairs in all
  std::vector<StatusPair> unreachable;  // the first kMaxStatusPairs of them
};

inline constexpr size_t kMaxAdminList = 1 << 20;

std::string ToJson(const TokenView& v);
std::string ToJson(const TokenListResponse& v);
std::string ToJson(const EkAllowlistResponse& v);
std::string ToJson(const EkAllowResponse& v);
std::string ToJson(const RemovedResponse& v);
std::string ToJson(const PolicyView& v);
std::string ToJson(const PolicyListResponse& v);
std::string ToJson(const AuditListResponse& v);
std::string ToJson(const StatusResponse& v);

[[nodiscard]] Result<TokenView> ParseTokenView(std::string_view json);
[[nodiscard]] Result<TokenListResponse> ParseTokenListResponse(std::string_view json);
[[nodiscard]] Result<EkAllowlistResponse> ParseEkAllowlistResponse(std::string_view json);
[[nodiscard]] Result<EkAllowResponse> ParseEkAllowResponse(std::string_view json);
[[nodiscard]] Result<RemovedResponse> ParseRemovedResponse(std::string_view json);
[[nodiscard]] Result<PolicyView> ParsePolicyView(std::string_view json);
[[nodiscard]] Result<PolicyListResponse> ParsePolicyListResponse(std::string_view json);
[[nodiscard]] Result<AuditListResponse> ParseAuditListResponse(std::string_view json);
[[nodiscard]] Result<StatusResponse> ParseStatusResponse(std::string_view json);

}  // namespace tpmesh::proto
