#include "tpmesh/authority/records.h"

namespace tpmesh::authority {

const char* NodeStatusName(NodeStatus s) {
  switch (s) {
    case NodeStatus::kPending: return "pending";
    case NodeStatus::kActive: return "active";
    case NodeStatus::kRevoked: return "revoked";
    case NodeStatus::kQuarantined: return "quarantined";
  }
  return "unknown";
}

std::optional<NodeStatus> ParseNodeStatus(std::string_view s) {
  if (s == "pending") return NodeStatus::kPending;
  if (s == "active") return NodeStatus::kActive;
  if (s == "revoked") return NodeStatus::kRevoked;
  if (s == "quarantined") return NodeStatus::kQuarantined;
  return std::nullopt;
}

}  // namespace tpmesh::authority
