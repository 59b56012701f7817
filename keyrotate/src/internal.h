// Helpers shared by the keyrotate sources. Not installed.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::keyrotate::internal {

// Whole-second rounding of a time point (toward the past / the future).
inline TimePoint FloorSeconds(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }
inline TimePoint CeilSeconds(TimePoint t) { return std::chrono::ceil<std::chrono::seconds>(t); }

// Non-empty, <= 256 bytes, no control characters. "invalid_key_id" naming `what`.
Status CheckKeyId(std::string_view id, std::string_view what);

}  // namespace tpmesh::keyrotate::internal
