// Wire types of the admin API's request bodies (docs/protocol.md, "Admin
// API"): tpmeshctl prints them, the authority parses them. Responses are in
// admin.h and node.h; the field rules in admin_fields.h.
//
// Parsing is strict, unlike the response parsers: never throws; an empty body
// is {}; a JSON null counts as absent; a mistyped field, a field breaking its
// rule (admin_fields.h) and a field the request does not take are all refused
// as Error{kInvalidArgument, "invalid_request", "<field>: <problem>"}, the
// first one found. A parsed value holds the canonical forms (lower-case node
// refs). Printing never fails; it gives the bytes tpmeshctl has always sent
// (nlohmann's sorted keys).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/proto/admin_fields.h"

namespace tpmesh::proto {

// A request that takes no body fields: every admin GET and DELETE, and
// POST /v1/node/renew/start. "" and {} are accepted; any field is refused.
struct EmptyRequest {};

// POST /v1/admin/nodes/<ref>/{approve,revoke,restore}.
struct NodeActionRequest {
  std::string reason;  // ValidateAdminText; "" = none (printed only when set)
};

// POST /v1/admin/tokens. The service bounds the lifetime ("invalid_ttl").
struct TokenCreateRequest {
  int64_t ttl_seconds = 3600;  // absent: one hour
  std::string comment;         // ValidateAdminText
};

// POST /v1/admin/ek-allowlist.
struct EkAllowRequest {
  Bytes ek_sha256;      // required: SHA-256 of the EK public key, 32 bytes
  std::string comment;  // ValidateAdminText
};

// POST /v1/admin/policies: define a PCR policy from explicit values, or
// adopt a node's last verified quote. Exactly one of from_node and pcrs is
// set in a parsed value (and should be in a printed one).
struct PolicyPutRequest {
  std::string name;                      // required: ValidatePolicyName
  std::optional<std::string> from_node;  // CanonicalNodeRef
  // PCR index (0-23) -> accepted SHA-256 values (1 to kMaxPcrAlternatives);
  // printed as arrays of hex.
  std::optional<std::map<uint32_t, std::vector<Bytes>>> pcrs;
};

std::string ToJson(const EmptyRequest& v);
std::string ToJson(const NodeActionRequest& v);
std::string ToJson(const TokenCreateRequest& v);
std::string ToJson(const EkAllowRequest& v);
std::string ToJson(const PolicyPutRequest& v);

[[nodiscard]] Result<EmptyRequest> ParseEmptyRequest(std::string_view json);
[[nodiscard]] Result<NodeActionRequest> ParseNodeActionRequest(std::string_view json);
[[nodiscard]] Result<TokenCreateRequest> ParseTokenCreateRequest(std::string_view json);
[[nodiscard]] Result<EkAllowRequest> ParseEkAllowRequest(std::string_view json);
[[nodiscard]] Result<PolicyPutRequest> ParsePolicyPutRequest(std::string_view json);

}  // namespace tpmesh::proto
