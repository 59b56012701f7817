// Node side of attestation: the TPM behind an interface.
//
// The real implementation (OpenTpm) speaks ESAPI over a TCTI chosen by string,
// like tpm2-tss's tctildr: "device:/dev/tpmrm0" in production,
// "swtpm:host=127.0.0.1,port=N" in tests. Tests of logic may use a fake.
//
// Every call flushes every transient object and session it created before it
// returns, on success and on every error path: after any call,
// TransientHandleCount() is what it was before. This matters because swtpm and
// /dev/tpm0 have no resource manager.
//
// Thread-safety: a Tpm is not thread-safe; use one per thread.
// Errors: Code::kUnavailable when the TPM cannot be reached, kInvalidArgument
// for bad inputs (e.g. a credential that fails the TPM's integrity check:
// reason "tpm_activation_failed"), kNotFound when an NV index is absent.
#pragma once

#include <memory>
#include <string>

#include "tpmesh/attest/types.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::attest {

inline constexpr const char* kDefaultTcti = "device:/dev/tpmrm0";

// NV indices of the TCG EK Credential Profile.
inline constexpr uint32_t kNvEkCertRsa2048 = 0x01c00002;
inline constexpr uint32_t kNvEkCertEccP256 = 0x01c0000a;
inline constexpr uint32_t kNvEkIntermediateFirst = 0x01c00100;
inline constexpr uint32_t kNvEkIntermediateLast = 0x01c001ff;

class Tpm {
 public:
  virtual ~Tpm() = default;

  // Recreates the EK of `alg` from the standard TCG template (L-1 or L-2) in
  // the endorsement hierarchy and reads its certificate and any intermediates
  // from NV. A missing certificate is not an error (ek_cert_der empty).
  [[nodiscard]] virtual Result<EkBundle> ReadEk(KeyAlg alg) = 0;

  // Creates a restricted signing AK (fixedTPM, fixedParent,
  // sensitiveDataOrigin, userWithAuth, restricted, sign; ECDSA-SHA256 for ECC,
  // RSASSA-SHA256 for RSA) under the SRK (the standard ECC P-256 storage
  // primary of the owner hierarchy, recreated on demand) and returns it
  // wrapped.
  [[nodiscard]] virtual Result<AkBlob> CreateAk(KeyAlg alg) = 0;

  // Loads `ak` and runs TPM2_ActivateCredential against the EK of `ek_alg`
  // (PolicySecret(endorsement) session for the EK, password session for the
  // AK). Returns the recovered secret.
  [[nodiscard]] virtual Result<SecretBytes> ActivateCredential(const AkBlob& ak, KeyAlg ek_alg,
                                                               const Credential& credential) = 0;

  // Quotes `selection` with `nonce` as qualifying data, signed by `ak`, and
  // returns the PCR values the quote covers. PCRs are read before and after
  // the quote; if they changed in between the whole step is retried (bounded).
  [[nodiscard]] virtual Result<QuoteEvidence> Quote(const AkBlob& ak, const PcrSelection& selection,
                                                    ByteView nonce) = 0;

  [[nodiscard]] virtual Result<PcrValues> ReadPcrs(const PcrSelection& selection) = 0;

  // Extends `pcr` in the SHA-256 bank with `digest` (32 bytes). For tests,
  // demos and measured-boot simulation.
  [[nodiscard]] virtual Status ExtendPcr(uint32_t pcr, ByteView digest) = 0;

  // Number of transient objects plus loaded sessions in the TPM right now.
  [[nodiscard]] virtual Result<size_t> TransientHandleCount() = 0;
};

// Opens a TPM through tpm2-tss's TCTI loader; `tcti` is a tctildr string such
// as "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321".
[[nodiscard]] Result<std::unique_ptr<Tpm>> OpenTpm(const std::string& tcti);

}  // namespace tpmesh::attest
