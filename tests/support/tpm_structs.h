// Building TPM 2.0 structures in software for tests: public areas from
// OpenSSL keys, quote TPMS_ATTESTs, and TPMT_SIGNATUREs. Everything is
// marshaled with tss2-mu exactly as a TPM would send it. Reusable by a
// software TPM double.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

// In a gtest body: `lhs = value of expr`, or fail the test with the error.
#define TPMESH_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  TPMESH_ASSERT_OK_AND_ASSIGN_IMPL_(TPMESH_CONCAT_(tpmesh_r_, __LINE__), lhs, expr)
#define TPMESH_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  ASSERT_TRUE(tmp.ok()) << tmp.error().ToString();        \
  lhs = std::move(tmp).value()

namespace tpmesh::testing {

// Fresh OpenSSL keys. `group` is an OpenSSL name: "P-256", "P-384", ...
[[nodiscard]] Result<ossl::Pkey> GenerateRsaKey(int bits);
[[nodiscard]] Result<ossl::Pkey> GenerateEcKey(const char* group);

// Everything in a TPMT_PUBLIC except the key itself.
struct PublicParams {
  uint16_t name_alg = attest::kAlgSha256;
  uint32_t attributes = 0;
  Bytes auth_policy;
  uint16_t symmetric = attest::kAlgNull;  // kAlgAes for storage keys
  uint16_t symmetric_bits = 0;
  uint16_t symmetric_mode = attest::kAlgNull;
  uint16_t scheme = attest::kAlgNull;
  uint16_t scheme_hash = attest::kAlgNull;
};

// TCG EK Credential Profile template L-1 / L-2 attributes and policy
// (fixedTPM, fixedParent, sensitiveDataOrigin, adminWithPolicy, restricted,
// decrypt; AES-128-CFB; PolicySecret(endorsement) auth policy).
PublicParams EkParams();
// A restricted signing AK (fixedTPM, fixedParent, sensitiveDataOrigin,
// userWithAuth, restricted, sign) with the given scheme and hash.
PublicParams AkParams(uint16_t scheme, uint16_t hash);

// TPM2B_PUBLIC for `key` (RSA: exponent 65537 written as 0; ECC: P-256/P-384).
[[nodiscard]] Result<Bytes> MakeTpmPublic(EVP_PKEY* key, const PublicParams& params);

struct QuoteFields {
  uint32_t magic = 0xff544347;  // TPM_GENERATED_VALUE
  uint16_t type = 0x8018;       // TPM_ST_ATTEST_QUOTE
  Bytes qualified_signer;
  Bytes extra_data;
  uint64_t clock = 1000;
  uint32_t reset_count = 1;
  uint32_t restart_count = 0;
  bool safe = true;
  uint64_t firmware_version = 0x2000000000;
  // One TPMS_PCR_SELECTION per entry: bank TPM_ALG_ID and the PCR indices.
  std::vector<std::pair<uint16_t, std::vector<uint32_t>>> selection;
  Bytes pcr_digest;
};

// Marshaled TPMS_ATTEST (the bytes a TPM signs). Types other than QUOTE get
// an all-empty body of that type.
[[nodiscard]] Result<Bytes> MakeQuoteAttest(const QuoteFields& fields);

// Marshaled TPMT_SIGNATURE over `data`, signed as a TPM would: RSASSA
// (PKCS#1 v1.5), RSAPSS (salt = digest length) or ECDSA (r, s padded to the
// field size). The scheme is not checked against the key.
[[nodiscard]] Result<Bytes> SignTpm(EVP_PKEY* key, uint16_t sig_alg, uint16_t hash_alg,
                                    ByteView data);

}  // namespace tpmesh::testing
