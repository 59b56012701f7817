// Verifier-side internals that let Verifier::Begin do each expensive step
// once: parse the EK certificate once, build the EK's EVP_PKEY once, and
// encode SPKIs without OpenSSL 3.0's encoder/decoder lookup (the dominant
// cost of i2d_PUBKEY on provider keys). Each function is the public one of
// the same name minus the repeated work; errors and verdicts are identical.
// Not a public header.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <span>

#include "ossl.h"
#include "tpmesh/attest/credential.h"
#include "tpmesh/attest/ekcert.h"
#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/common/env.h"

namespace tpmesh::attest::internal {

// The EK certificate (NV padding trimmed) as one X509; Malformed("ek_cert: ...")
// exactly as VerifyEkCertificate reports it.
[[nodiscard]] Result<ossl::X509Ptr> ParseEkCert(ByteView ek_cert_der);
// Exactly one DER certificate (NV padding trimmed); errors name `what`.
[[nodiscard]] Result<ossl::X509Ptr> ParseDerCert(ByteView der, const std::string& what);
// Issued by itself and its signature verifies with its own key.
bool IsSelfSignedCert(X509* cert);

// VerifyEkCertificate on an already parsed leaf.
[[nodiscard]] Result<EkCertInfo> VerifyEkCertificate(X509* leaf,
                                                     std::span<const Bytes> intermediates,
                                                     const TrustStore& trust,
                                                     const EkCertOptions& options);

// CheckEkMatchesCert on an already parsed certificate. On success *ek_key
// holds ek.ToPkey() (the caller reuses it).
[[nodiscard]] Status CheckEkMatchesCert(const TpmPublic& ek, X509* cert, ossl::Pkey* ek_key);

// SubjectPublicKeyInfo DER of `pub`, built from its fields with OpenSSL's
// ASN.1 encoder: byte-identical to SpkiDer(pub.ToPkey()) (named curve,
// uncompressed point; rsaEncryption with NULL parameters). Does not validate
// the key: call it only for a TpmPublic whose ToPkey() succeeded.
[[nodiscard]] Result<Bytes> TpmSpkiDer(const TpmPublic& pub);

// MakeCredential with `ek_key` = ek.ToPkey() already built.
[[nodiscard]] Result<Credential> MakeCredential(const TpmPublic& ek, EVP_PKEY* ek_key,
                                                ByteView object_name, ByteView secret, Random& rng);

}  // namespace tpmesh::attest::internal
