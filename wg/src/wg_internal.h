// Helpers shared by the tpmesh_wg sources (not installed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tpmesh::wg {

// Unsigned decimal <= max; digits only (no sign, no spaces).
std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t max, bool allow_leading_zero);

// s with non-printable bytes, '"' and '\\' as \xNN, cut after `max` bytes:
// safe to put untrusted text into an error message.
std::string Printable(std::string_view s, size_t max = 64);

}  // namespace tpmesh::wg
