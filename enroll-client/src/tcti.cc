#include "tpmesh/client/tcti.h"

#include "tpmesh/attest/tpm.h"

namespace tpmesh::client {

Result<std::string> ResolveTcti(const std::optional<std::string>& flag, const char* env,
                                bool allow_none, const std::string& flag_source) {
  std::string tcti = attest::kDefaultTcti;
  if (flag) {
    tcti = *flag;
  } else if (env != nullptr && *env != '\0') {
    tcti = env;
  }
  const std::string from = flag                               ? flag_source
                           : (env != nullptr && *env != '\0') ? "TPMESH_TCTI"
                                                              : "";
  if (tcti.empty()) {
    return MakeError(Code::kInvalidArgument, "usage",
                     from + " is empty: name a TCTI, e.g. " + attest::kDefaultTcti);
  }
  if (tcti == "none") {
    if (!allow_none) {
      return MakeError(Code::kInvalidArgument, "usage", from + " none: this command needs the TPM");
    }
    return std::string();
  }
  return tcti;
}

}  // namespace tpmesh::client
