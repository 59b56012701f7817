#include "tpmesh/attest/checks.h"

#include <array>

namespace tpmesh::attest {
namespace {

struct CheckText {
  Check check;
  const char* reason;
  const char* description;
};

constexpr std::array<CheckText, kCheckCount> kChecks = {{
    {Check::kEkCertChain, "ek_cert_untrusted",
     "EK certificate chains to a trusted TPM vendor root"},
    {Check::kEkCertValidity, "ek_cert_expired",
     "EK certificate and its issuers are within their validity dates"},
    {Check::kEkKeyMismatch, "ek_key_mismatch",
     "EK public key from the TPM equals the key in the EK certificate"},
    {Check::kAkAttributes, "ak_attributes_invalid",
     "AK is a TPM-bound restricted signing key (fixedTPM, fixedParent, sensitiveDataOrigin, "
     "restricted, sign, not decrypt)"},
    {Check::kAkWeak, "ak_weak", "AK is strong enough (RSA >= 2048 or ECC P-256/P-384, SHA-256+)"},
    {Check::kActivationSecret, "activation_secret_invalid",
     "credential activation returned this challenge's secret (single use, unexpired)"},
    {Check::kQuoteSignature, "quote_signature_invalid",
     "quote is signed by the AK with the AK's own scheme and hash"},
    {Check::kQuoteStructure, "quote_structure_invalid",
     "quote is a TPM-generated TPMS_ATTEST of type QUOTE"},
    {Check::kQuoteNonce, "quote_nonce_mismatch",
     "quote carries exactly this challenge's fresh nonce"},
    {Check::kPcrDigest, "pcr_digest_mismatch",
     "quoted PCR digest matches the PCR values sent, over exactly the requested PCRs"},
    {Check::kPcrPolicy, "pcr_policy_mismatch", "PCR values match the admitted PCR policy"},
    {Check::kQuoteTiming, "quote_timing_invalid",
     "TPM reset/restart counters and clock move forward, clock is safe"},
    {Check::kIdentityChanged, "identity_changed",
     "a known node identity presents the same EK (and AK) as before"},
    {Check::kEkCertProfile, "ek_cert_profile_invalid",
     "EK certificate follows the TCG EK profile (not a CA, TPM SAN, EK usage)"},
    {Check::kSoftwareTpm, "software_tpm_rejected",
     "EK certificate is not from a software TPM (allowed only in dev mode)"},
}};

const CheckText& TextOf(Check check) { return kChecks[static_cast<int>(check) - 1]; }

}  // namespace

const char* CheckReason(Check check) { return TextOf(check).reason; }
const char* CheckDescription(Check check) { return TextOf(check).description; }

std::optional<Check> CheckFromReason(std::string_view reason) {
  for (const auto& t : kChecks) {
    if (reason == t.reason) return t.check;
  }
  return std::nullopt;
}

Error CheckFailure(Check check, std::string detail) {
  return MakeError(Code::kPermissionDenied, CheckReason(check), std::move(detail));
}

Error Malformed(std::string what) {
  return MakeError(Code::kInvalidArgument, kReasonMalformed, std::move(what));
}

}  // namespace tpmesh::attest
