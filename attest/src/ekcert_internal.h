// Internal to attest/: the TCG EK certificate profile check (check 14,
// ekcert_profile.cc) and the ASN.1 helpers it shares with ekcert.cc.
#pragma once

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <string>

#include "tpmesh/attest/ekcert.h"

namespace tpmesh::attest::internal {

// TCG OIDs (EK Credential Profile 2.x, section 3.2).
constexpr const char* kOidTpmManufacturer = "2.23.133.2.1";
constexpr const char* kOidTpmModel = "2.23.133.2.2";
constexpr const char* kOidTpmVersion = "2.23.133.2.3";
constexpr const char* kOidEkCertificateEku = "2.23.133.8.1";  // tcg-kp-EKCertificate
constexpr const char* kOidSubjectDirectoryAttributes = "2.5.29.9";

// Dotted OID text ("?" when it does not print).
std::string ObjText(const ASN1_OBJECT* obj);
// The string as UTF-8 ("" when it does not convert).
std::string Asn1String(const ASN1_STRING* s);

// Check 14 on the EK certificate; fills the TPM identity fields of `info`.
// Error: CheckFailure(kEkCertProfile, what is wrong).
[[nodiscard]] Status CheckProfile(X509* cert, EkCertInfo& info);

}  // namespace tpmesh::attest::internal
