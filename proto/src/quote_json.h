// Internal: JSON for the quote and PCR pieces shared by the enrollment and
// renewal messages (one encoding, one parser).
#pragma once

#include <nlohmann/json.hpp>

#include "tpmesh/attest/types.h"
#include "tpmesh/json/reader.h"

namespace tpmesh::proto {

nlohmann::json PcrSelectionJson(const attest::PcrSelection& s);
nlohmann::json PcrValuesJson(const attest::PcrValues& v);
// {"attest", "signature", "pcrs"}: the selection is implied by the challenge.
nlohmann::json QuoteJson(const attest::QuoteEvidence& q);

// Reads `field` of `r` as {"<pcr>": base64}; a problem fails `r`.
attest::PcrValues ReadPcrValues(JsonReader& r, const char* field);
// Reads outer["pcr_selection"].
[[nodiscard]] Result<attest::PcrSelection> ReadPcrSelection(JsonReader& outer);
// Reads outer["quote"] into `out`; a problem fails `outer` or the returned
// reader (check both).
[[nodiscard]] Status ReadQuote(JsonReader& outer, attest::QuoteEvidence& out);

}  // namespace tpmesh::proto
