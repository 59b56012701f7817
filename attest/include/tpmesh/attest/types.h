// Wire-level attestation data shared by the node side (tpm.h) and the
// verifier side (verifier.h). Plain value types; TPM structures are kept as
// their TPM 2.0 marshaled bytes (big-endian, as tss2-mu writes them) so they
// can travel in JSON as base64 and be re-parsed by any TPM stack.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::attest {

// Key algorithms for EKs and AKs. EKs use the TCG EK Credential Profile
// low-range templates (L-1 RSA-2048, L-2 ECC NIST P-256).
enum class KeyAlg { kRsa2048, kEccP256 };
const char* KeyAlgName(KeyAlg alg);  // "rsa2048", "ecc-p256"
[[nodiscard]] Result<KeyAlg> ParseKeyAlg(std::string_view name);

// PCR bank hash. Only SHA-256 is accepted for policy; SHA-1 exists so that a
// verifier can name (and reject) it clearly.
enum class HashAlg { kSha1, kSha256, kSha384 };
const char* HashAlgName(HashAlg alg);
size_t HashAlgSize(HashAlg alg);
[[nodiscard]] Result<HashAlg> ParseHashAlg(std::string_view name);

struct PcrSelection {
  HashAlg bank = HashAlg::kSha256;
  std::vector<uint32_t> pcrs;  // sorted ascending, no duplicates, each < 24
  bool operator==(const PcrSelection&) const = default;
};
// Sorted, de-duplicated, range-checked.
[[nodiscard]] Result<PcrSelection> MakePcrSelection(HashAlg bank, std::vector<uint32_t> pcrs);

// PCR index -> value in the selection's bank.
using PcrValues = std::map<uint32_t, Bytes>;

// What the node reports about its endorsement key.
struct EkBundle {
  KeyAlg alg = KeyAlg::kRsa2048;
  Bytes ek_public;                   // TPM2B_PUBLIC, marshaled
  std::optional<Bytes> ek_cert_der;  // from NV; absent on some fTPMs
  std::vector<Bytes> intermediates;  // DER, from NV 0x01c00100.. where present
};

// An attestation key as stored on the node: wrapped by the TPM under the SRK,
// useless on any other TPM.
struct AkBlob {
  KeyAlg alg = KeyAlg::kEccP256;
  Bytes public_area;   // TPM2B_PUBLIC, marshaled
  Bytes private_area;  // TPM2B_PRIVATE, marshaled (TPM-encrypted)

  // File format: "TPMESH-AK1\n" + alg byte + u32 len + public + u32 len + private.
  Bytes Serialize() const;
  [[nodiscard]] static Result<AkBlob> Parse(ByteView data);
};

// A quote as produced by TPM2_Quote plus the PCR values it covers.
struct QuoteEvidence {
  Bytes attest;     // TPMS_ATTEST, marshaled (the signed bytes; TPM2B_ATTEST's buffer)
  Bytes signature;  // TPMT_SIGNATURE, marshaled
  PcrSelection selection;
  PcrValues pcr_values;
};

// The output of MakeCredential: what TPM2_ActivateCredential consumes.
struct Credential {
  Bytes id_object;         // TPM2B_ID_OBJECT, marshaled (integrity HMAC + encrypted credential)
  Bytes encrypted_secret;  // TPM2B_ENCRYPTED_SECRET, marshaled (seed for the EK)
};

}  // namespace tpmesh::attest
