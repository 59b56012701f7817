#include "tpmesh/attest/verifier.h"

#include <algorithm>
#include <cstdlib>

#include "tpmesh/attest/credential.h"
#include "tpmesh/attest/tpm_public.h"
#include "verify_internal.h"

namespace tpmesh::attest {
namespace {

void Record(CheckLog* log, Check check, bool passed, std::string detail) {
  if (log != nullptr) log->push_back(CheckOutcome{check, passed, std::move(detail)});
}

// Records the outcome of a step that can fail any of `checks` (in the order
// they are evaluated). On success all pass; on a failure attributed to
// checks[i], the checks before it passed and checks[i] failed; on any other
// error (malformed input) no verdict is recorded.
Status RecordSteps(CheckLog* log, std::initializer_list<Check> checks, Status status,
                   const std::string& pass_detail) {
  std::optional<Check> failed;
  if (!status.ok()) {
    failed = CheckFromReason(status.error().reason);
    if (!failed) return status;
    if (std::find(checks.begin(), checks.end(), *failed) == checks.end()) {
      Record(log, *failed, false, status.error().message);  // verdicts before it are unknown
      return status;
    }
  }
  for (Check c : checks) {
    if (failed && *failed == c) {
      Record(log, c, false, status.error().message);
      return status;
    }
    Record(log, c, true, pass_detail);
  }
  return status;
}

template <typename T>
Status AsStatus(const Result<T>& r) {
  if (r.ok()) return OkStatus();
  return r.error();
}

}  // namespace

Verifier::Verifier(const TrustStore& trust, VerifierOptions options, const Clock& clock,
                   Random& rng)
    : trust_(trust), options_(std::move(options)), clock_(clock), rng_(rng) {}

Status Verifier::RecheckEkCert(ByteView ek_public, ByteView ek_cert_der,
                               std::span<const Bytes> intermediates) const {
  auto ek = ParseTpm2bPublic(ek_public);
  if (!ek.ok()) return Malformed("ek_public: " + ek.error().message);
  TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr leaf, internal::ParseEkCert(ek_cert_der));
  EkCertOptions copts{clock_.Now(), options_.allow_software_tpm, options_.ek_chain_time};
  TPMESH_RETURN_IF_ERROR(
      AsStatus(internal::VerifyEkCertificate(leaf.get(), intermediates, trust_, copts)));
  ossl::Pkey unused;
  return internal::CheckEkMatchesCert(*ek, leaf.get(), &unused);
}

Result<std::pair<Challenge, PendingChallenge>> Verifier::Begin(const EnrollEvidence& evidence,
                                                               CheckLog* log) const {
  auto ek = ParseTpm2bPublic(evidence.ek_public);
  if (!ek.ok()) return Malformed("ek_public: " + ek.error().message);
  auto ak = ParseTpm2bPublic(evidence.ak_public);
  if (!ak.ok()) return Malformed("ak_public: " + ak.error().message);

  // Each expensive step once: the certificate is parsed once and the EK's
  // EVP_PKEY built once (by check 3, or below when there is no certificate).
  std::optional<EkCertInfo> cert_info;
  ossl::Pkey ek_key;
  if (evidence.ek_cert_der.has_value()) {
    EkCertOptions copts{clock_.Now(), options_.allow_software_tpm, options_.ek_chain_time};
    auto leaf = internal::ParseEkCert(*evidence.ek_cert_der);
    auto info = leaf.ok() ? internal::VerifyEkCertificate(leaf->get(), evidence.intermediates,
                                                          trust_, copts)
                          : Result<EkCertInfo>(leaf.error());
    std::string pass = info.ok() ? "issuer " + info->issuer + ", TPM " + info->tpm_manufacturer +
                                       " " + info->tpm_model
                                 : "";
    TPMESH_RETURN_IF_ERROR(RecordSteps(
        log,
        {Check::kEkCertChain, Check::kEkCertValidity, Check::kEkCertProfile, Check::kSoftwareTpm},
        AsStatus(info), pass));
    cert_info = std::move(*info);
    TPMESH_RETURN_IF_ERROR(RecordSteps(log, {Check::kEkKeyMismatch},
                                       internal::CheckEkMatchesCert(*ek, leaf->get(), &ek_key),
                                       "EK public key equals the certified key"));
  } else if (options_.require_ek_cert) {
    Error e = CheckFailure(Check::kEkCertChain,
                           "the node sent no EK certificate; admit it through the EK allowlist "
                           "(its EK hash) instead");
    Record(log, Check::kEkCertChain, false, e.message);
    return e;
  } else {
    for (Check c : {Check::kEkCertChain, Check::kEkCertValidity, Check::kEkKeyMismatch,
                    Check::kEkCertProfile, Check::kSoftwareTpm}) {
      Record(log, c, true, "no EK certificate: admission must come from the EK allowlist");
    }
  }

  TPMESH_RETURN_IF_ERROR(RecordSteps(log, {Check::kAkAttributes, Check::kAkWeak},
                                     CheckAkParameters(*ak),
                                     "AK is a restricted, TPM-bound signing key"));

  TPMESH_ASSIGN_OR_RETURN(Bytes ek_name, ek->Name());
  TPMESH_ASSIGN_OR_RETURN(Bytes ak_name, ak->Name());
  if (!ek_key) {
    TPMESH_ASSIGN_OR_RETURN(ek_key, ek->ToPkey());
  }
  TPMESH_ASSIGN_OR_RETURN(Bytes ek_spki, internal::TpmSpkiDer(*ek));
  TPMESH_ASSIGN_OR_RETURN(Bytes ek_hash, ossl::Digest(EVP_sha256(), ek_spki));

  PendingChallenge pending;
  pending.secret = SecretBytes(options_.secret_size);
  rng_.Fill(pending.secret.span());
  pending.nonce.resize(std::max<size_t>(options_.nonce_size, 16));
  rng_.Fill(pending.nonce);
  pending.selection = options_.selection;
  pending.ek_public = evidence.ek_public;
  pending.ak_public = evidence.ak_public;
  pending.ek_name = ek_name;
  pending.ak_name = ak_name;
  pending.ek_spki_sha256 = ek_hash;
  pending.ek_cert = cert_info;
  pending.expires = clock_.Now() + options_.challenge_ttl;

  auto cred = internal::MakeCredential(*ek, ek_key.get(), ak_name, pending.secret.view(), rng_);
  if (!cred.ok()) {
    // The EK is not a usable storage key (e.g. a signing key posing as EK).
    return MakeError(
        cred.error().code == Code::kInternal ? Code::kInternal : Code::kInvalidArgument,
        cred.error().reason, "ek_public: " + cred.error().message);
  }
  Challenge challenge{std::move(*cred), pending.nonce, pending.selection};
  return std::make_pair(std::move(challenge), std::move(pending));
}

Result<AttestedNode> Verifier::Complete(const PendingChallenge& pending,
                                        const ChallengeResponse& response, const PcrPolicy* policy,
                                        CheckLog* log) const {
  if (clock_.Now() > pending.expires) {
    Error e =
        CheckFailure(Check::kActivationSecret, "the challenge expired; start enrollment again");
    Record(log, Check::kActivationSecret, false, e.message);
    return e;
  }
  if (!ConstantTimeEqual(response.secret.view(), pending.secret.view())) {
    Error e = CheckFailure(Check::kActivationSecret,
                           "the secret returned is not the one sealed to this EK and AK: the AK is "
                           "not in the same TPM as the EK, or the response is replayed");
    Record(log, Check::kActivationSecret, false, e.message);
    return e;
  }
  Record(log, Check::kActivationSecret, true, "AK and EK are in the same TPM");

  auto ak = ParseTpm2bPublic(pending.ak_public);
  if (!ak.ok()) return ak.take_error();
  auto quote = VerifyQuote(*ak, response.quote, pending.nonce, pending.selection);
  TPMESH_RETURN_IF_ERROR(RecordSteps(
      log, {Check::kQuoteSignature, Check::kQuoteStructure, Check::kQuoteNonce, Check::kPcrDigest},
      AsStatus(quote), "quote verified"));

  if (policy != nullptr) {
    TPMESH_RETURN_IF_ERROR(RecordSteps(log, {Check::kPcrPolicy},
                                       CheckPcrPolicy(*policy, response.quote.pcr_values),
                                       "PCRs match policy '" + policy->name + "'"));
  } else {
    Record(log, Check::kPcrPolicy, true, "no PCR policy bound: the admission gate decides");
  }

  AttestedNode node;
  node.ek_public = pending.ek_public;
  node.ek_name = pending.ek_name;
  node.ek_spki_sha256 = pending.ek_spki_sha256;
  node.ak_public = pending.ak_public;
  node.ak_name = pending.ak_name;
  node.ek_cert = pending.ek_cert;
  node.quote = std::move(*quote);
  node.pcr_values = response.quote.pcr_values;
  return node;
}

std::string ChallengeBook::Put(PendingChallenge pending, Random& rng) {
  Bytes id(16);
  rng.Fill(id);
  std::string key = HexEncode(id);
  std::lock_guard<std::mutex> lock(mu_);
  pending_.emplace(key, std::move(pending));
  return key;
}

Result<PendingChallenge> ChallengeBook::Take(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    return CheckFailure(Check::kActivationSecret,
                        "unknown or already used challenge: each challenge answers once");
  }
  PendingChallenge p = std::move(it->second);
  pending_.erase(it);
  if (clock_.Now() > p.expires) {
    return CheckFailure(Check::kActivationSecret, "the challenge expired; start enrollment again");
  }
  return p;
}

void SilenceTss2Logging() { ::setenv("TSS2_LOG", "all+NONE", /*overwrite=*/1); }

}  // namespace tpmesh::attest
