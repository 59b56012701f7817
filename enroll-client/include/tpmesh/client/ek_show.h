// `tpmesh-client ek show`: what the authority will see of this machine's
// TPM, offline, for building EK allowlists before the first enrollment.
#pragma once

#include <optional>
#include <string>

#include "tpmesh/attest/tpm.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::client {

// For each EK of the TCG low-range templates (L-1 RSA-2048, L-2 ECC P-256)
// the TPM has: its fingerprint (SHA-256 of the SPKI, what `tpmeshctl ek
// allow` takes and the authority records; the node id is its first 10
// bytes), and its certificate from NV, if any: subject, issuer, dates, the
// TPM manufacturer, model and version it names; with `trust_dir`, whether
// it chains to that directory's anchors (checks 1, 2, 14, 15 as the
// authority runs them at `now`, EK chain time "issuance"). Reads the TPM
// only (creates the EK primaries, nothing persistent). Error only when the
// TPM has neither EK; an unreadable trust directory is an error naming it.
[[nodiscard]] Result<std::string> EkReport(attest::Tpm& tpm,
                                           const std::optional<std::string>& trust_dir,
                                           TimePoint now);

}  // namespace tpmesh::client
