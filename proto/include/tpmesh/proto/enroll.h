// Wire types of the enrollment protocol (docs/protocol.md) and their JSON
// encoding, shared by the authority and the client.
//
// Parse* functions take untrusted text: they never throw, reject missing or
// mistyped required fields and bad base64 with Error{kInvalidArgument,
// "invalid_request", "<field>: <problem>"}, and bound every size.
// Thread-safe (pure functions).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tpmesh/attest/types.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::proto {

inline constexpr size_t kMaxBodyBytes = 64 * 1024;

struct EnrollStartRequest {
  std::string hostname;
  attest::KeyAlg ek_alg = attest::KeyAlg::kRsa2048;
  Bytes ek_public;
  std::optional<Bytes> ek_cert;
  std::vector<Bytes> ek_intermediates;
  Bytes ak_public;
};

struct EnrollStartResponse {
  std::string challenge_id;
  attest::Credential credential;
  Bytes nonce;
  attest::PcrSelection pcr_selection;
  int64_t expires_at = 0;
};

struct EnrollFinishRequest {
  std::string challenge_id;
  SecretBytes secret;
  attest::QuoteEvidence quote;  // selection is implied by pcr values' keys + the challenge
  Bytes wg_public_key;          // 32 bytes
  std::string hostname;
  std::vector<std::string> endpoints;
  std::string csr_pem;
  std::optional<std::string> token;
};

struct EnrollFinishResponse {
  std::string status;  // "active" or "pending_approval"
  std::string node_id;
  std::string overlay_address;
  std::string overlay_prefix;
  std::string mesh_prefix;
  std::string node_cert_pem;
  std::string ca_bundle_pem;
  Bytes config_signing_key;
  int64_t generation = 0;
  int mtu = 1420;
  // How many other members the mesh had at `generation`. The peers
  // themselves come only in the signed config (GET /v1/node/config): an
  // unsigned copy here would be O(mesh) bytes per enrollment that no client
  // may apply.
  int64_t peer_count = 0;
};

std::string ToJson(const EnrollStartRequest& v);
std::string ToJson(const EnrollStartResponse& v);
std::string ToJson(const EnrollFinishRequest& v);
std::string ToJson(const EnrollFinishResponse& v);

[[nodiscard]] Result<EnrollStartRequest> ParseEnrollStartRequest(std::string_view json);
[[nodiscard]] Result<EnrollStartResponse> ParseEnrollStartResponse(std::string_view json);
[[nodiscard]] Result<EnrollFinishRequest> ParseEnrollFinishRequest(std::string_view json);
[[nodiscard]] Result<EnrollFinishResponse> ParseEnrollFinishResponse(std::string_view json);

// Validation helpers shared by both sides.
//
// Hostnames are DNS host names, compared without regard to case: LDH labels
// (letters, digits, '-') of 1-63 characters that neither start nor end with
// '-', separated by '.', 1-253 characters in all, no trailing dot. Refused as
// well: names of digits and dots only (they read as IPv4 addresses) and names
// of exactly 20 hex digits (they read as node ids, and admin commands take
// "id or hostname"). kInvalidArgument "invalid_hostname" naming the problem.
// CanonicalHostname returns the name as stored and compared: lower case. The
// enrollment request parsers return hostnames in that form.
[[nodiscard]] Result<std::string> CanonicalHostname(std::string_view hostname);
[[nodiscard]] Status ValidateHostname(std::string_view hostname);
[[nodiscard]] Status ValidateEndpoint(std::string_view endpoint);  // "[v6]:port" or "v4:port"

}  // namespace tpmesh::proto
