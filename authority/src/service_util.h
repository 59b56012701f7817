// Small helpers shared by the AuthorityService source files (service*.cc).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tpmesh/authority/store.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority::internal {

inline Error NodeNotFound(std::string_view id) {
  return MakeError(Code::kNotFound, "node_not_found",
                   "no node with id or hostname '" + std::string(id.substr(0, 64)) + "'");
}

// By node id first, then by hostname.
inline Result<std::optional<NodeRecord>> FindNode(Tx& tx, std::string_view id_or_hostname) {
  TPMESH_ASSIGN_OR_RETURN(auto by_id, tx.FindNodeById(id_or_hostname));
  if (by_id) return by_id;
  return tx.FindNodeByHostname(id_or_hostname);
}

}  // namespace tpmesh::authority::internal
