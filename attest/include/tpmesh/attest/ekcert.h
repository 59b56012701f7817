// EK certificate verification (checks 1, 2, 3, 14, 15) with OpenSSL 3.
//
// EK certificates are not TLS certificates: empty subject, critical
// subjectAltName holding a directoryName with the TPM manufacturer, model and
// version (TCG OIDs 2.23.133.2.1/2/3), EKU 2.23.133.8.1, critical KeyUsage.
// The chain is built to a root in the TrustStore, using intermediates from the
// store and from the node (untrusted hints). No TLS purpose checks.
#pragma once

#include <openssl/x509.h>

#include <memory>
#include <span>
#include <string>

#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/common/env.h"

namespace tpmesh::attest {

// Trusted TPM vendor roots plus known intermediates. Immutable after loading;
// safe to share between threads for verification.
class TrustStore {
 public:
  TrustStore();
  ~TrustStore();
  TrustStore(TrustStore&&) noexcept;
  TrustStore& operator=(TrustStore&&) noexcept;

  // Loads every *.pem, *.crt, *.cer and *.der file in `dir`: self-signed
  // certificates become roots, others intermediates (path-building hints,
  // never trusted on their own); and every such file in `dir`/anchors/,
  // which become trust anchors whether self-signed or not (certs/README.md:
  // a vendor root cross-signed by a CA not in the store). A file that does
  // not parse is an error naming the file.
  [[nodiscard]] static Result<TrustStore> LoadDirectory(const std::string& dir);

  // Adds one or more PEM certificates, or one DER certificate; `anchor`:
  // as trust anchors even if not self-signed.
  [[nodiscard]] Status AddPem(std::string_view pem, bool anchor = false);
  [[nodiscard]] Status AddDer(ByteView der, bool anchor = false);

  size_t root_count() const;  // anchors: self-signed roots and chosen ones
  size_t intermediate_count() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// When an EK certificate chain must have been valid (docs/attestation.md,
// check 2). TPMs keep the EK certificate their manufacturer wrote for the
// life of the chip, and vendor CAs expire meanwhile, so by default the chain
// is checked at the EK certificate's issuance (its notBefore: every CA on
// the path must have been valid when it was issued, the "chain model");
// kNow checks every certificate, the EK's included, at the current time.
// Either way an EK certificate not yet valid now is refused.
enum class EkChainTime { kIssuance, kNow };
const char* EkChainTimeName(EkChainTime t);  // "issuance", "now"
[[nodiscard]] Result<EkChainTime> ParseEkChainTime(std::string_view name);

struct EkCertOptions {
  TimePoint now;                    // the current time
  bool allow_software_tpm = false;  // dev mode: accept swtpm/other simulators
  EkChainTime chain_time = EkChainTime::kIssuance;
};

struct EkCertInfo {
  std::string tpm_manufacturer;  // e.g. "id:00001014"
  std::string tpm_model;         // e.g. "swtpm"
  std::string tpm_version;       // e.g. "id:20191023"
  bool software_tpm = false;
  std::string subject;  // one-line subject DN (often empty for EK certificates)
  std::string issuer;   // one-line issuer DN
  TimePoint not_before;
  TimePoint not_after;
  Bytes spki_sha256;  // SHA-256 of the certified key's SPKI DER
};

// What an EK certificate says, without verifying anything (for display:
// `tpmesh-client ek show`): names, dates, fingerprint, and the TPM
// manufacturer/model/version where its subjectAltName has them (else
// empty). Trailing NV padding is tolerated; a certificate that does not
// parse is Malformed.
[[nodiscard]] Result<EkCertInfo> DescribeEkCertificate(ByteView ek_cert_der);

// Verifies the EK certificate: chain (1), validity of the chain at the time
// options.chain_time says (2), the TCG EK profile (14), software TPM policy (15).
// Trailing bytes after the DER (NV padding) are tolerated; anything else that
// does not parse is Malformed.
[[nodiscard]] Result<EkCertInfo> VerifyEkCertificate(ByteView ek_cert_der,
                                                     std::span<const Bytes> intermediates,
                                                     const TrustStore& trust,
                                                     const EkCertOptions& options);

// Check 3: the key in the certificate equals the EK public area's key.
[[nodiscard]] Status CheckEkMatchesCert(const TpmPublic& ek, ByteView ek_cert_der);

// Returns the DER prefix of NV contents (a certificate followed by padding).
[[nodiscard]] Result<Bytes> TrimDer(ByteView nv_contents);

}  // namespace tpmesh::attest
