#include "esys_util.h"

#include <tss2/tss2_rc.h>

#include <cstdio>

namespace tpmesh::attest::esys {

bool IsTctiError(TSS2_RC rc) { return (rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER; }

TSS2_RC BaseRc(TSS2_RC rc) {
  const TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
  if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER) return rc;
  const TSS2_RC code = rc & ~TSS2_RC_LAYER_MASK;
  if (code & TPM2_RC_FMT1) return (code & 0x3f) | TPM2_RC_FMT1;
  return code;
}

Error TpmError(const std::string& step, TSS2_RC rc) {
  char hex[16];
  std::snprintf(hex, sizeof(hex), "0x%x", rc);
  std::string text = step + " failed: " + Tss2_RC_Decode(rc) + " (" + hex + ")";
  if (IsTctiError(rc)) {
    return MakeError(Code::kUnavailable, "tpm_unavailable",
                     text + "; the connection to the TPM was lost or refused");
  }
  const TSS2_RC base = BaseRc(rc);
  if (base == TPM2_RC_OBJECT_MEMORY || base == TPM2_RC_SESSION_MEMORY ||
      base == TPM2_RC_SESSION_HANDLES || base == TPM2_RC_OBJECT_HANDLES) {
    return MakeError(Code::kResourceExhausted, "tpm_error",
                     text +
                         "; the TPM is out of object/session slots (a process that did not "
                         "flush its handles? use device:/dev/tpmrm0, not /dev/tpm0)");
  }
  return MakeError(Code::kInternal, "tpm_error", text);
}

}  // namespace tpmesh::attest::esys
