// TPM 2.0 key derivation functions (Part 1, 11.4.10), internal to attest/.
//
// Both are thin wrappers over OpenSSL 3 EVP_KDF, not hand-rolled loops:
//   KDFa = NIST SP800-108 counter mode with HMAC ("KBKDF"):
//          HMAC(key, [i]_32 || label || 0x00 || contextU || contextV || [bits]_32)
//   KDFe = NIST SP800-56A concatenation KDF with a hash ("SSKDF"):
//          H([i]_32 || Z || label || 0x00 || partyU || partyV)
// The label is written without its terminating NUL; the KDF adds the 0x00
// octet the TPM spec puts after it. `bits` must be a positive multiple of 8
// (the TPM's masking of a partial first octet is not supported) and at most
// 8192. `hash_alg` is a TPM_ALG_ID (SHA-1/256/384/512).
//
// Thread-safe. Outputs are key material, hence SecretBytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::attest {

[[nodiscard]] Result<SecretBytes> KDFa(uint16_t hash_alg, ByteView key, std::string_view label,
                                       ByteView context_u, ByteView context_v, size_t bits);

[[nodiscard]] Result<SecretBytes> KDFe(uint16_t hash_alg, ByteView z, std::string_view label,
                                       ByteView party_u, ByteView party_v, size_t bits);

}  // namespace tpmesh::attest
