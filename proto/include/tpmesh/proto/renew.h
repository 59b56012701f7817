// Wire types of node certificate renewal with re-attestation
// (docs/protocol.md, "Certificate renewal"): POST /v1/node/renew/start and
// /v1/node/renew/finish, both authenticated by the node's current
// certificate. Same parsing contract as enroll.h: never throws, bad input is
// Error{kInvalidArgument, "invalid_request", "<field>: <problem>"}.
#pragma once

#include <string>

#include "tpmesh/attest/types.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::proto {

// The request body of /v1/node/renew/start is {} (the node is the caller).
struct RenewStartResponse {
  std::string challenge_id;
  Bytes nonce;
  attest::PcrSelection pcr_selection;
  int64_t expires_at = 0;
};

struct RenewFinishRequest {
  std::string challenge_id;
  attest::QuoteEvidence quote;  // by the node's enrolled AK over the challenge's nonce
  std::string csr_pem;          // for the NEW node key
};

struct RenewFinishResponse {
  std::string node_id;
  std::string node_cert_pem;
  std::string ca_bundle_pem;
};

std::string ToJson(const RenewStartResponse& v);
std::string ToJson(const RenewFinishRequest& v);
std::string ToJson(const RenewFinishResponse& v);

[[nodiscard]] Result<RenewStartResponse> ParseRenewStartResponse(std::string_view json);
[[nodiscard]] Result<RenewFinishRequest> ParseRenewFinishRequest(std::string_view json);
[[nodiscard]] Result<RenewFinishResponse> ParseRenewFinishResponse(std::string_view json);

}  // namespace tpmesh::proto
