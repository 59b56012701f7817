// Quote and AK verification, PCR policy, and quote timing (checks 4, 5, 7-12).
//
// Pure functions over marshaled TPM structures (tss2-mu) and OpenSSL;
// thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/attest/types.h"

namespace tpmesh::attest {

struct ClockState {
  uint64_t clock_ms = 0;
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  bool safe = false;
};

struct QuoteInfo {
  Bytes qualified_signer;
  Bytes extra_data;  // the nonce the TPM signed
  ClockState clock;
  uint64_t firmware_version = 0;
  PcrSelection selection;  // what the TPM says it quoted
  Bytes pcr_digest;
};

// Parses a marshaled TPMS_ATTEST and requires magic TPM_GENERATED_VALUE and
// type TPM_ST_ATTEST_QUOTE (check 8). Truncated or trailing bytes: Malformed.
// A selection with more than one bank is rejected (check 10).
[[nodiscard]] Result<QuoteInfo> ParseQuoteAttest(ByteView attest);

// Checks 4 and 5 on an AK public area.
[[nodiscard]] Status CheckAkParameters(const TpmPublic& ak);

// Verifies a quote:
//   7  the TPMT_SIGNATURE is by `ak`, with the AK's scheme and hash;
//   8  structure (ParseQuoteAttest);
//   9  extraData equals `expected_nonce` exactly;
//   10 the quoted selection equals `expected_selection` (no missing, no extra
//      PCRs), q.selection and q.pcr_values cover exactly it, and pcrDigest
//      equals H(concatenated values in selection order).
[[nodiscard]] Result<QuoteInfo> VerifyQuote(const TpmPublic& ak, const QuoteEvidence& q,
                                            ByteView expected_nonce,
                                            const PcrSelection& expected_selection);

// Check 12, for re-attestation: resetCount and restartCount never go
// backwards; within the same reset and restart, clock must advance; safe must
// be set in `current`.
[[nodiscard]] Status CheckQuoteTiming(const ClockState& previous, const ClockState& current);

// Named sets of golden PCR values. A PCR matches when its value equals any
// of its golden values; every PCR in the policy must match.
struct PcrPolicy {
  std::string name;
  HashAlg bank = HashAlg::kSha256;
  std::map<uint32_t, std::vector<Bytes>> golden;

  // The selection the policy needs quoted.
  PcrSelection Selection() const;
};

// Check 11.
[[nodiscard]] Status CheckPcrPolicy(const PcrPolicy& policy, const PcrValues& values);

// Digest the TPM computes over PCR values in selection order.
[[nodiscard]] Result<Bytes> PcrDigest(HashAlg alg, const PcrSelection& selection,
                                      const PcrValues& values);

}  // namespace tpmesh::attest
