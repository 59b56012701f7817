// Which TPM a tpmesh-client command opens (docs/operations.md, "The TPM").
// Pure: the caller passes the environment's value.
#pragma once

#include <optional>
#include <string>

#include "tpmesh/common/result.h"

namespace tpmesh::client {

// The `--tcti` given, else `env` (TPMESH_TCTI) if set and not empty, else
// attest::kDefaultTcti ("device:/dev/tpmrm0", the kernel's resource
// manager, which several processes may open at once). "none" turns the TPM
// off where a command can do without one (allow_none: `run`, whose renewal
// and re-enrollment then stay off) and gives "". Errors: "usage" for an
// empty value, or "none" where a TPM is needed, naming `flag_source` (where
// `flag` came from: "--tcti", or the config file's key).
[[nodiscard]] Result<std::string> ResolveTcti(const std::optional<std::string>& flag,
                                              const char* env, bool allow_none,
                                              const std::string& flag_source = "--tcti");

}  // namespace tpmesh::client
