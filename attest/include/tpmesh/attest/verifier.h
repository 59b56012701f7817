// The verifier side of the enrollment protocol (docs/attestation.md):
//
//   Begin(evidence)  -> checks 1-5, 14, 15; MakeCredential; fresh nonce.
//                       Returns the Challenge for the node and the
//                       PendingChallenge the caller keeps (secret inside).
//   Complete(pending, response) -> checks 6-11 (12 and 13 are the caller's,
//                       because only the caller knows prior records: 12 with
//                       CheckQuoteTiming; 13, the same EK for a known
//                       hostname and the same AK on renewal, against its
//                       store, as CheckFailure(kIdentityChanged, ...)).
//
// The caller owns single use: a PendingChallenge must be taken out of its
// store atomically before Complete (ChallengeBook does this in memory; the
// authority does it in SQLite). Complete checks expiry itself.
//
// Thread-safety: Verifier is immutable after construction; Begin/Complete may
// run concurrently. ChallengeBook is internally locked.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tpmesh/attest/checks.h"
#include "tpmesh/attest/ekcert.h"
#include "tpmesh/attest/quote.h"
#include "tpmesh/attest/types.h"
#include "tpmesh/common/env.h"

namespace tpmesh::attest {

struct VerifierOptions {
  bool allow_software_tpm = false;  // dev mode (check 15)
  // When false, a node without an EK certificate may proceed to the
  // challenge; the caller must then admit it only through an EK allowlist.
  bool require_ek_cert = true;
  PcrSelection selection{HashAlg::kSha256, {0, 1, 2, 3, 4, 5, 6, 7}};
  std::chrono::seconds challenge_ttl{60};
  size_t nonce_size = 32;                              // >= 16
  size_t secret_size = 32;                             // <= EK nameAlg digest size
  EkChainTime ek_chain_time = EkChainTime::kIssuance;  // check 2 (ekcert.h)
};

struct CheckOutcome {
  Check check;
  bool passed = false;
  std::string detail;
};
using CheckLog = std::vector<CheckOutcome>;

struct EnrollEvidence {
  Bytes ek_public;  // TPM2B_PUBLIC
  std::optional<Bytes> ek_cert_der;
  std::vector<Bytes> intermediates;
  Bytes ak_public;  // TPM2B_PUBLIC
};

struct Challenge {
  Credential credential;
  Bytes nonce;
  PcrSelection selection;
};

struct PendingChallenge {
  SecretBytes secret;
  Bytes nonce;
  PcrSelection selection;
  Bytes ek_public;
  Bytes ak_public;
  Bytes ek_name;
  Bytes ak_name;
  Bytes ek_spki_sha256;
  std::optional<EkCertInfo> ek_cert;
  TimePoint expires;
};

struct ChallengeResponse {
  SecretBytes secret;  // what ActivateCredential recovered
  QuoteEvidence quote;
};

struct AttestedNode {
  Bytes ek_public;
  Bytes ek_name;
  Bytes ek_spki_sha256;  // EK fingerprint: allowlists and node ids use it
  Bytes ak_public;
  Bytes ak_name;
  std::optional<EkCertInfo> ek_cert;
  QuoteInfo quote;
  PcrValues pcr_values;
};

class Verifier {
 public:
  // `trust`, `clock` and `rng` must outlive the Verifier.
  Verifier(const TrustStore& trust, VerifierOptions options, const Clock& clock, Random& rng);

  [[nodiscard]] Result<std::pair<Challenge, PendingChallenge>> Begin(const EnrollEvidence& evidence,
                                                                     CheckLog* log = nullptr) const;

  // `policy` may be null: then check 11 is recorded as skipped-by-caller and
  // the caller must gate admission another way.
  [[nodiscard]] Result<AttestedNode> Complete(const PendingChallenge& pending,
                                              const ChallengeResponse& response,
                                              const PcrPolicy* policy,
                                              CheckLog* log = nullptr) const;

  // Checks 1-3, 14 and 15 again on EK evidence accepted earlier (the
  // certificate a node enrolled with, at its renewal), against the trust
  // store and dev mode as they are now: a removed vendor root or a dev mode
  // switched off takes effect for known nodes. `ek_cert_der` must not be
  // empty (a node without one is the caller's: the EK allowlist).
  [[nodiscard]] Status RecheckEkCert(ByteView ek_public, ByteView ek_cert_der,
                                     std::span<const Bytes> intermediates) const;
  const VerifierOptions& options() const { return options_; }

 private:
  const TrustStore& trust_;
  VerifierOptions options_;
  const Clock& clock_;
  Random& rng_;
};

// In-memory single-use challenge store with expiry (demo and tests; the
// authority keeps challenges in SQLite with the same semantics).
class ChallengeBook {
 public:
  explicit ChallengeBook(const Clock& clock) : clock_(clock) {}
  // Stores `pending` under a fresh random id and returns the id (hex).
  std::string Put(PendingChallenge pending, Random& rng);
  // Removes and returns the challenge; unknown, used or expired ids fail
  // check 6.
  [[nodiscard]] Result<PendingChallenge> Take(const std::string& id);

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, PendingChallenge> pending_;
};

// Turns libtss2's own logging off in this process: sets TSS2_LOG=all+NONE,
// which libtss2 reads at its first log call. Its marshalling code logs the
// structures it fails to parse ("WARNING:marshal:... count too big"), and on
// a verifier those bytes come from untrusted clients; every such failure is
// returned as an error naming the structure instead. An inherited TSS2_LOG is
// overridden on purpose (a debugging setting left in a service's environment
// would log every client's bytes). Call first thing in main(), before any
// thread starts (setenv is not thread-safe) and before any tss2 call.
void SilenceTss2Logging();

}  // namespace tpmesh::attest
