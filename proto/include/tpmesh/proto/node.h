// Wire types of the node API after enrollment (docs/protocol.md, "Config
// push", "Acknowledgement", "WireGuard key rotation"), shared by the
// authority (which prints responses and parses requests) and tpmesh-client
// (the other way round). Every request to /v1/node/* is authenticated by the
// node's certificate; the bodies carry no node id.
//
// Parsing contract as enroll.h: never throws; unknown fields are ignored, a
// JSON null counts as absent; bad input is Error{kInvalidArgument,
// "invalid_request", "<field path>: <problem>"}. Printing is canonical
// (nlohmann's key order) and never fails.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::proto {

// GET /v1/ca (anonymous): the CA bundle nodes trust (PEM, current first).
struct CaBundleResponse {
  std::string ca_bundle_pem;
};

// GET /v1/node/config?since=G&wait=S, 200: exactly one of `full` and
// `delta` (a delta from `since` when the authority still holds it).
// 204 (nothing newer before `wait` ran out) has no body.
struct ConfigEnvelope {
  int64_t generation = 0;
  std::optional<meshcfg::SignedState> full;
  std::optional<meshcfg::MeshDelta> delta;
};

// POST /v1/node/ack: what the node applied and sees.
struct PeerStatus {
  Bytes public_key;            // 32 bytes
  int64_t last_handshake = 0;  // unix seconds, 0 = never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};
struct AckRequest {
  int64_t generation = 0;                       // the generation now applied
  std::optional<std::string> ca_bundle_sha256;  // 64 lower-case hex digits of the held CA bundle
  std::vector<PeerStatus> peers;                // at most kMaxAckPeers
  // The node's underlay endpoints as they are now (configured, or derived
  // from its interface addresses), at most 8, each "[v6]:port" or
  // "v4:port" (ValidateEndpoint); absent: unchanged. The authority publishes
  // a change in the next generation.
  std::optional<std::vector<std::string>> endpoints;
};
inline constexpr size_t kMaxAckPeers = 65536;

// The answer: {"ok": true} and, when there is something to do, a rotation
// directive and/or the new CA bundle of a CA rotation.
struct AckResponse {
  enum class Rotation { kNone, kPrepare, kSwitch };
  Rotation rotation = Rotation::kNone;
  Bytes next_public_key;                 // 32 bytes for kSwitch, else empty
  std::optional<std::string> ca_bundle;  // PEM: the new bundle of a CA rotation
};

// POST /v1/node/rotate/prepare: the node's next WireGuard public key;
// answered with the generation that announces it.
struct RotatePrepareRequest {
  Bytes next_public_key;  // 32 bytes
};
struct RotatePrepareResponse {
  int64_t announce_generation = 0;
};
// POST /v1/node/rotate/switched: the key the node now uses; answered
// {"ok": true}.
struct RotateSwitchedRequest {
  Bytes public_key;  // 32 bytes
};

// A node as GET /v1/node/self, GET /v1/admin/nodes[/<ref>] and the node
// admin actions (approve, revoke, restore) show it.
struct NodeView {
  std::string node_id;
  std::string hostname;
  // pending, active, expired (active, but its certificate has ended: it
  // must enroll again, which its client does with its TPM), quarantined,
  // revoked
  std::string status;
  std::string status_reason;
  std::string ek_sha256;  // hex
  Bytes wg_public_key;    // 32 bytes
  std::vector<std::string> endpoints;
  std::string pcr_policy;
  std::vector<std::pair<uint32_t, std::string>> pcrs;  // PCR index -> hex, ascending
  int64_t enrolled_at = 0;
  int64_t updated_at = 0;
  int64_t last_seen = 0;
  int64_t enroll_count = 0;
  std::optional<int64_t> cert_not_after;       // the current certificate's end, if known
  std::optional<std::string> overlay_prefix;   // "<v6>/64" once a subnet is allocated
  std::optional<std::string> overlay_address;  // the node's address in it
};

// GET /v1/admin/nodes.
struct NodeListResponse {
  int64_t generation = 0;
  std::string mesh_prefix;
  std::vector<NodeView> nodes;
};
inline constexpr size_t kMaxNodeList = 1 << 20;

std::string ToJson(const CaBundleResponse& v);
std::string ToJson(const ConfigEnvelope& v);
// The same bytes without copying the part into a ConfigEnvelope (the
// authority prints each generation's bodies once and caches them).
std::string ConfigEnvelopeJson(int64_t generation, const meshcfg::SignedState& full);
std::string ConfigEnvelopeJson(int64_t generation, const meshcfg::MeshDelta& delta);
std::string ToJson(const AckRequest& v);
std::string ToJson(const AckResponse& v);
std::string ToJson(const RotatePrepareRequest& v);
std::string ToJson(const RotatePrepareResponse& v);
std::string ToJson(const RotateSwitchedRequest& v);
std::string ToJson(const NodeView& v);
std::string ToJson(const NodeListResponse& v);
// {"ok": true}: the answer of ack-like calls that return nothing else.
std::string OkJson();

[[nodiscard]] Result<CaBundleResponse> ParseCaBundleResponse(std::string_view json);
// The parts are parsed (and validated) by meshcfg's parsers; signatures are
// the caller's to verify.
[[nodiscard]] Result<ConfigEnvelope> ParseConfigEnvelope(std::string_view json);
[[nodiscard]] Result<AckRequest> ParseAckRequest(std::string_view json);
[[nodiscard]] Result<AckResponse> ParseAckResponse(std::string_view json);
[[nodiscard]] Result<RotatePrepareRequest> ParseRotatePrepareRequest(std::string_view json);
[[nodiscard]] Result<RotatePrepareResponse> ParseRotatePrepareResponse(std::string_view json);
[[nodiscard]] Result<RotateSwitchedRequest> ParseRotateSwitchedRequest(std::string_view json);
[[nodiscard]] Result<NodeView> ParseNodeView(std::string_view json);
[[nodiscard]] Result<NodeListResponse> ParseNodeListResponse(std::string_view json);

}  // namespace tpmesh::proto
