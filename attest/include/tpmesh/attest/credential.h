// MakeCredential in software (TPM 2.0 Part 1, 24; Part 3, TPM2_MakeCredential).
//
// Binds `secret` to an object name (the AK's) and to an EK: only a TPM that
// holds the EK's private key *and* has an object with that name loaded can
// recover the secret with TPM2_ActivateCredential.
//   RSA EK: seed random, encrypted with RSA-OAEP(nameAlg, label "IDENTITY\0").
//   ECC EK: ephemeral ECDH on the EK's curve; seed = KDFe(nameAlg, Z,
//           "IDENTITY", ephemeral.x, ek.x, digestBits).
//   Then symKey = KDFa(nameAlg, seed, "STORAGE", name, "", symBits) encrypts
//   the TPM2B_DIGEST(secret) with AES-CFB (zero IV); hmacKey =
//   KDFa(nameAlg, seed, "INTEGRITY", "", "", digestBits) MACs
//   encIdentity || name.
//
// Thread-safe. On failure nothing is returned; no partial output.
#pragma once

#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/attest/types.h"
#include "tpmesh/common/env.h"

namespace tpmesh::attest {

// `ek` must be a restricted decryption storage key (RSA-2048 or ECC P-256/
// P-384 with AES-128 or AES-256 CFB symmetric); `secret` at most the size of
// the EK's nameAlg digest and not empty. `rng` supplies the RSA seed.
[[nodiscard]] Result<Credential> MakeCredential(const TpmPublic& ek, ByteView object_name,
                                                ByteView secret, Random& rng);

}  // namespace tpmesh::attest
