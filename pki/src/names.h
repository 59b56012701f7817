// Internal: the tpmesh identity names carried in certificates. Not public.
#pragma once

#include <string_view>

#include "tpmesh/common/result.h"

namespace tpmesh::pki {

inline constexpr std::string_view kNodeUriPrefix = "tpmesh://node/";
inline constexpr std::string_view kAdminUriPrefix = "tpmesh://admin/";

// Exactly 20 lowercase hex digits. kInvalidArgument "invalid_node_id".
[[nodiscard]] Status ValidateNodeId(std::string_view id);
// 1-48 characters of [a-z0-9._-], starting with a letter or digit.
// kInvalidArgument "invalid_admin_name".
[[nodiscard]] Status ValidateAdminName(std::string_view name);

}  // namespace tpmesh::pki
