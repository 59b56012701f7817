// Parsing TPM public areas (TPM2B_PUBLIC) without a TPM: tss2-mu for the
// structure, OpenSSL for the key.
//
// Pure functions; thread-safe.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>

#include "tpmesh/attest/types.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/ossl/ossl.h"

namespace tpmesh::attest {

// TPM_ALG_ID values used here (TPM 2.0 Part 2, 6.3).
inline constexpr uint16_t kAlgRsa = 0x0001, kAlgSha1 = 0x0004, kAlgSha256 = 0x000B,
                          kAlgSha384 = 0x000C, kAlgNull = 0x0010, kAlgRsassa = 0x0014,
                          kAlgRsapss = 0x0016, kAlgEcdsa = 0x0018, kAlgEcc = 0x0023,
                          kAlgAes = 0x0006, kAlgCfb = 0x0043;
// TPM_ECC_CURVE
inline constexpr uint16_t kCurveNistP256 = 0x0003, kCurveNistP384 = 0x0004;
// TPMA_OBJECT bits
inline constexpr uint32_t kAttrFixedTpm = 0x00000002, kAttrFixedParent = 0x00000010,
                          kAttrSensitiveDataOrigin = 0x00000020, kAttrUserWithAuth = 0x00000040,
                          kAttrAdminWithPolicy = 0x00000080, kAttrNoDa = 0x00000400,
                          kAttrRestricted = 0x00010000, kAttrDecrypt = 0x00020000,
                          kAttrSign = 0x00040000;

// A parsed TPMT_PUBLIC of type RSA or ECC (others are rejected as malformed).
struct TpmPublic {
  Bytes area;               // the marshaled TPMT_PUBLIC (what the name hashes)
  uint16_t type = 0;        // kAlgRsa or kAlgEcc
  uint16_t name_alg = 0;    // kAlgSha256, ...
  uint32_t attributes = 0;  // TPMA_OBJECT
  Bytes auth_policy;
  uint16_t symmetric = kAlgNull;       // storage keys: AES; signing keys: NULL
  uint16_t symmetric_bits = 0;         // key bits of `symmetric` (128, 256); 0 if NULL
  uint16_t symmetric_mode = kAlgNull;  // kAlgCfb for storage keys; NULL if `symmetric` is
  uint16_t scheme = kAlgNull;          // RSASSA, ECDSA, ... or NULL
  uint16_t scheme_hash = kAlgNull;
  // RSA
  uint16_t rsa_bits = 0;
  uint32_t rsa_exponent = 0;  // 0 means 65537
  Bytes rsa_modulus;
  // ECC
  uint16_t curve = 0;
  Bytes ecc_x, ecc_y;

  // TPM name: nameAlg (2 bytes, big-endian) || H_nameAlg(area).
  [[nodiscard]] Result<Bytes> Name() const;
  // The key as an OpenSSL public key.
  [[nodiscard]] Result<ossl::Pkey> ToPkey() const;
  // SHA-256 of the DER SubjectPublicKeyInfo: the EK's stable fingerprint
  // (identical whether taken from the TPM or from the EK certificate).
  [[nodiscard]] Result<Bytes> SpkiSha256() const;
};

// Parses a marshaled TPM2B_PUBLIC. The size prefix must match and no bytes
// may follow (oversized input is rejected, not ignored).
[[nodiscard]] Result<TpmPublic> ParseTpm2bPublic(ByteView data);

// OK when `key` is of algorithm `alg` (rsa2048: RSA with a 2048-bit modulus;
// ecc-p256: ECC on NIST P-256); else kInvalidArgument "invalid_request"
// naming `field`, the algorithm claimed and the one the key has.
[[nodiscard]] Status CheckKeyAlg(const TpmPublic& key, KeyAlg alg, std::string_view field);

// DER SubjectPublicKeyInfo of a key, and its SHA-256.
[[nodiscard]] Result<Bytes> SpkiDer(EVP_PKEY* key);

}  // namespace tpmesh::attest
