// Internal to tpmesh_client: the body of GET /v1/node/config (docs/protocol.md),
// {"full": <signed state>} or {"delta": <signed delta>}, read without
// exceptions and verified.
#pragma once

#include <string>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::client {

// The state the body leads to from `held` (nullptr: none held yet), signed
// by a key in `trusted` (non-empty) and never older than `held`. Errors:
// "invalid_config" (not an object, 'full'/'delta' missing or not objects, a
// delta without a held state) and meshcfg's parse and verification errors.
[[nodiscard]] Result<meshcfg::SignedState> VerifyConfigResponse(const std::string& body,
                                                                const meshcfg::SignedState* held,
                                                                const std::vector<Bytes>& trusted);

}  // namespace tpmesh::client
