// The fifteen attestation checks (docs/attestation.md, reference table) and
// their stable error reasons.
//
// Every check that fails produces Error{Code::kPermissionDenied,
// CheckReason(check), "<what was wrong>"}; input that is not a well-formed TPM
// structure or certificate produces Error{Code::kInvalidArgument,
// kReasonMalformed, ...} naming the field. Reasons are part of the API: never
// rename one.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tpmesh/common/result.h"

namespace tpmesh::attest {

enum class Check : int {
  kEkCertChain = 1,     // EK cert chains to a trusted root
  kEkCertValidity = 2,  // EK cert and intermediates within validity dates
  kEkKeyMismatch = 3,   // EK public equals the key in the EK cert
  kAkAttributes = 4,  // AK is fixedTPM/fixedParent/sensitiveDataOrigin/restricted/sign, not decrypt
  kAkWeak = 5,        // AK is RSA >= 2048 or ECC P-256/P-384, with a SHA-256+ scheme
  kActivationSecret = 6,  // credential secret correct, single use, unexpired
  kQuoteSignature = 7,    // quote signed by the AK with the AK's scheme and hash
  kQuoteStructure = 8,    // TPMS_ATTEST magic and type are a quote's
  kQuoteNonce = 9,        // extraData is exactly this challenge's nonce
  kPcrDigest = 10,        // pcrDigest matches the PCR values sent; selection exact
  kPcrPolicy = 11,        // PCR values match the admitted policy
  kQuoteTiming = 12,      // resetCount/restartCount/clock move forward; safe set
  kIdentityChanged = 13,  // a known identity re-appears with a different EK or AK
  kEkCertProfile = 14,    // EK cert follows the TCG profile (not a CA, TPM SAN, EKU)
  kSoftwareTpm = 15,      // software TPM EK certs only in dev mode
};
inline constexpr int kCheckCount = 15;

const char* CheckReason(Check check);  // e.g. "ek_cert_untrusted"
const char* CheckDescription(
    Check check);  // e.g. "EK certificate chains to a trusted TPM vendor root"
std::optional<Check> CheckFromReason(std::string_view reason);

// Error for a failed check; `detail` says what exactly was wrong.
Error CheckFailure(Check check, std::string detail);

inline constexpr const char* kReasonMalformed = "tpm_structure_malformed";
// Error for input that does not parse; `what` names the field and the problem.
Error Malformed(std::string what);

}  // namespace tpmesh::attest
