// `tpmesh-authority config check`: what `serve` would refuse, or an operator
// would regret later, found without serving. Reads the state directory (and
// releases it), the EK trust directory and the host's limits; writes nothing.
#pragma once

#include <string>
#include <vector>

#include "tpmesh/authority/state.h"
#include "tpmesh/tomlcfg/findings.h"

namespace tpmesh::authority {

using ConfigFinding = tomlcfg::Finding;
using tomlcfg::RenderFindings;

// In order: the state directory (LoadState's checks: permissions, owner,
// store, keys; "in use" by a running authority is not a failure), the EK
// trust directory, default_policy in the store, the CA, server and admin
// certificates (expired: fail; within 30 days or shorter than one node
// certificate: warn), node_cert_lifetime against the CA and the rotation
// settings, and the HTTP workers against the host's thread limits.
// `now` is unix seconds.
std::vector<ConfigFinding> CheckConfig(const AuthorityConfig& cfg, int64_t now);

}  // namespace tpmesh::authority
