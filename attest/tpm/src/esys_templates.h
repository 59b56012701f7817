// Key templates for the node side (TPM 2.0 Part 2 TPMT_PUBLIC):
//   EK:  TCG EK Credential Profile 2.0, low-range templates L-1 (RSA-2048) and
//        L-2 (ECC NIST P-256), the keys the EK certificates at 0x01c00002 /
//        0x01c0000a certify.
//   SRK: TCG TPM v2.0 Provisioning Guidance storage primary (ECC P-256,
//        AES-128-CFB, empty unique) in the owner hierarchy.
//   AK:  restricted signing key, ECDSA-SHA256 (P-256) or RSASSA-SHA256 (2048).
// Pure functions; not a public header.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include "tpmesh/attest/types.h"

namespace tpmesh::attest::esys {

TPM2B_PUBLIC EkTemplate(KeyAlg alg);
TPM2B_PUBLIC SrkTemplate();
TPM2B_PUBLIC AkTemplate(KeyAlg alg);

}  // namespace tpmesh::attest::esys
