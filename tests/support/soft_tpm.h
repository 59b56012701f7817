// SoftTpm: a software attest::Tpm for unit tests and benchmarks.
//
// TEST DOUBLE ONLY: it protects nothing. Keys live in process memory and
// AkBlob.private_area is the AK private key as plain DER (a real TPM returns
// a TPM2B_PRIVATE encrypted under its SRK). What it does faithfully is produce
// the TPM structures a real TPM would, so the real verifier accepts them:
//   - EK (ReadEk): RSA-2048 or ECC P-256 with the TCG EK template (L-1/L-2
//     attributes, PolicySecret(endorsement) policy, AES-128-CFB), and an EK
//     certificate with the TCG SAN issued by a test intermediate under a
//     process-wide test root (TrustedRoot(): put it in the TrustStore). The
//     intermediate is returned in EkBundle.intermediates.
//   - AK (CreateAk): restricted signing key; ECC P-256/ECDSA-SHA256 (fast) or
//     RSA-2048/RSASSA-SHA256 (slow keygen).
//   - ActivateCredential: the inverse of attest::MakeCredential in software
//     (RSA-OAEP "IDENTITY" / ECDH + KDFe seed recovery, KDFa, HMAC integrity
//     check over encIdentity || AK name, AES-128-CFB). A credential not made
//     for this EK and AK fails with kInvalidArgument "tpm_activation_failed".
//   - Quote: 24 SHA-256 PCRs in memory (ExtendPcr works), TPMS_ATTEST with the
//     nonce as extraData and a clock that advances on every quote, signed by
//     the AK as a TPM signs.
//   - An AK blob is loadable only by a SoftTpm with the same seed that created
//     it (a real TPM cannot load another TPM's AK): else "tpm_ak_invalid".
//
// Identity: the seed names the TPM. The same seed gives the same EKs within
// one process (ECC: derived from the seed, also stable across processes;
// RSA: generated once per seed and cached process-wide, because RSA keygen
// takes ~100 ms). Use ECC EKs where many distinct TPMs are needed.
//
// Thread-safety: like attest::Tpm, one SoftTpm per thread; the process-wide
// caches and CAs behind it are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tests/support/test_certs.h"
#include "tpmesh/attest/tpm.h"
#include "tpmesh/attest/tpm_public.h"

namespace tpmesh::testing {

// Where the EK certificate (in ReadEk) comes from.
enum class EkCertSource {
  kTrusted,    // issued under SoftTpm::TrustedRoot()
  kUntrusted,  // issued under SoftTpm::UntrustedRoot(), which no test trusts
  kAbsent,     // no certificate in NV (ek_cert_der empty), like some fTPMs
};

struct SoftTpmOptions {
  std::string seed = "soft-tpm";
  EkCertSource ek_cert = EkCertSource::kTrusted;
  // TCG SAN fields, validity etc. of the EK certificate. The default
  // manufacturer (Infineon) is not a software TPM, so check 15 passes without
  // dev mode.
  EkCertSpec cert_spec;
};

class SoftTpm final : public attest::Tpm {
 public:
  explicit SoftTpm(std::string seed = "soft-tpm", EkCertSource ek_cert = EkCertSource::kTrusted);
  explicit SoftTpm(SoftTpmOptions options);

  // Process-wide test CAs, created on first use. The EK issuers are
  // intermediates under these roots.
  static const TestCa& TrustedRoot();
  static const TestCa& UntrustedRoot();

  [[nodiscard]] Result<attest::EkBundle> ReadEk(attest::KeyAlg alg) override;
  [[nodiscard]] Result<attest::AkBlob> CreateAk(attest::KeyAlg alg) override;
  [[nodiscard]] Result<SecretBytes> ActivateCredential(
      const attest::AkBlob& ak, attest::KeyAlg ek_alg,
      const attest::Credential& credential) override;
  [[nodiscard]] Result<attest::QuoteEvidence> Quote(const attest::AkBlob& ak,
                                                    const attest::PcrSelection& selection,
                                                    ByteView nonce) override;
  [[nodiscard]] Result<attest::PcrValues> ReadPcrs(const attest::PcrSelection& selection) override;
  [[nodiscard]] Status ExtendPcr(uint32_t pcr, ByteView digest) override;
  // Always 0: nothing is ever left loaded.
  [[nodiscard]] Result<size_t> TransientHandleCount() override { return size_t{0}; }

  // --- test controls -------------------------------------------------------
  const std::string& seed() const { return options_.seed; }
  // SHA-256 of the EK's SubjectPublicKeyInfo (what EK allowlists hold).
  [[nodiscard]] Result<Bytes> EkSha256(attest::KeyAlg alg);
  // TPM reset (reboot): resetCount + 1, restartCount 0, PCRs back to their
  // power-on values. The clock keeps counting.
  void Reset();
  uint64_t clock_ms() const { return clock_ms_; }
  uint32_t reset_count() const { return reset_count_; }

 private:
  struct Ek {
    PkeyPtr key;
    attest::TpmPublic pub;
    attest::EkBundle bundle;
  };
  struct LoadedAk;

  Result<const Ek*> GetEk(attest::KeyAlg alg);
  // Like TPM2_Load; the last AK loaded stays loaded (as in a TPM), so a
  // benchmark measures the verifier, not SoftTpm re-parsing its key.
  Result<std::shared_ptr<const LoadedAk>> LoadAk(const attest::AkBlob& ak) const;
  void PowerOnPcrs();

  SoftTpmOptions options_;
  std::array<std::optional<Ek>, 2> eks_;  // by KeyAlg
  std::array<Bytes, 24> pcrs_;            // SHA-256 bank
  uint64_t clock_ms_ = 100'000;
  uint32_t reset_count_ = 1;
  uint32_t restart_count_ = 0;
  mutable Bytes loaded_ak_blob_;  // private_area || public_area of loaded_ak_
  mutable std::shared_ptr<const LoadedAk> loaded_ak_;
};

}  // namespace tpmesh::testing
