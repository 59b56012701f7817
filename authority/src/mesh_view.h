// The authority's in-memory view of membership: every node's status (for
// the per-request revocation check) and the active members of the mesh (for
// building each generation's state), kept current from the store's commit
// feed (store.h, CommitInfo) instead of reading every row per change.
//
// Lifecycle: empty and not loaded at construction; Load() fills it from a
// full read (inside a store transaction, so no commit can slip between the
// read and the feed); Apply() is called for every later commit, in commit
// order (the store's observers run serialized). Apply before Load is ignored
// (the load reads the result anyway).
//
// Thread-safety: all methods are thread-safe (one internal mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/authority/ipv6.h"
#include "tpmesh/authority/records.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/common/result.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::authority::internal {

class MeshView {
 public:
  struct Params {
    MeshPrefix mesh_prefix;
    int mtu = 1420;
    int persistent_keepalive = 25;
    // Told (under the view's lock: must not call back) about a record left
    // out of the mesh. May be empty.
    std::function<void(const std::string&)> log;
  };
  explicit MeshView(Params params) : params_(std::move(params)) {}

  bool loaded() const;
  void Load(const std::vector<NodeRecord>& nodes, int64_t generation);
  void Apply(const CommitInfo& commit);

  // The state at the latest committed generation (members sorted).
  // Precondition: loaded().
  meshcfg::MeshState Snapshot() const;
  int64_t generation() const;
  size_t member_count() const;
  // The endpoints the mesh config gives member `node_id`; nullopt if it is
  // not a member (not active, or left out).
  std::optional<std::vector<std::string>> EndpointsOf(std::string_view node_id) const;

  // OK for an active node presenting a certificate it holds valid
  // (`serial`: the current one, or the one renewal replaced before
  // prev_cert_until > `now`); node_unknown / node_revoked / node_not_active
  // / node_cert_superseded otherwise (the errors AuthorityService::
  // AuthorizeNode documents). Precondition: loaded().
  [[nodiscard]] Status Authorize(std::string_view node_id, std::string_view serial,
                                 int64_t now) const;

 private:
  struct NodeStatusView {
    NodeStatus status = NodeStatus::kPending;
    std::string hostname;
    std::string reason;
    std::string cert_serial, prev_cert_serial;
    int64_t prev_cert_until = 0;
  };
  void ApplyNode(const NodeRecord& n);  // mu_ held

  const Params params_;
  mutable std::mutex mu_;
  bool loaded_ = false;
  int64_t generation_ = 0;
  std::map<std::string, NodeStatusView, std::less<>> status_;        // every node
  std::map<std::string, meshcfg::MeshMember, std::less<>> members_;  // active, with a subnet, valid
};

}  // namespace tpmesh::authority::internal
