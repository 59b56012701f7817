// Internal helpers shared by the meshcfg sources.
#pragma once

#include <string>
#include <string_view>

#include "tpmesh/common/result.h"

namespace tpmesh::meshcfg {

inline Error Invalid(const std::string& message) {
  return MakeError(Code::kInvalidArgument, "invalid_mesh_config", message);
}

// Node ids: 1-64 chars of [0-9A-Za-z._-].
[[nodiscard]] Status ValidateNodeId(std::string_view id, std::string_view what);

// "addr/len", IPv4 or IPv6, len within the family's range.
[[nodiscard]] Status ValidateCidr(std::string_view s, const std::string& what);

}  // namespace tpmesh::meshcfg
